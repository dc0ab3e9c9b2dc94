"""Sweeps: a grid of envs x agents x seeds (x env option sets) run as Ray tasks.

Each trial is one episode in its own run directory, in exactly the format ``datagym run``
writes (``run_episode``), under the sweep directory::

    SWEEP_DIR/
      sweep.json                                   the grid and its trials (written first)
      Arithmetic-SkillList-v1-uniform-seed0/       a run directory (config.json, steps.jsonl, ...)
      Arithmetic-SkillList-v1-uniform-seed1/
      ...

Ray does the scheduling: a trial is a task asking for ``num_cpus=1`` (one torch thread, the
student's default), retried by Ray (``max_retries``, ``retry_exceptions=True``) when its
worker dies or it raises. A retried task finds its run directory's per-step checkpoint and
goes on from the last finished step (``resume_episode``), so the retry ends exactly as an
uninterrupted trial would. Running a sweep again into the same directory skips finished
trials (``summary.json`` present) and resumes the others. Trials report each finished step to
a small Ray actor (``ProgressBoard``) that the driver reads while it waits.

Ray: ``run_sweep`` uses the Ray instance already running in the process (the CLI starts a local
one, or connects to a cluster with ``--address``); the workers must be able to import datagym.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import signal
import time
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym

import datagym
from datagym.errors import ConfigError, DatagymError
from datagym.run_dir import RunDirectory, atomic_write_json

logger = logging.getLogger(__name__)

SWEEP_FILE = "sweep.json"
SWEEP_FORMAT = 1


#: ``--agent all``: every registered agent written for each env's level
ALL_AGENTS = "all"


class SweepError(DatagymError, ValueError):
    """A sweep's grid or directory is not what was expected."""


# -- the grid -------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Trial:
    """One episode of a sweep: which env (with which options), which agent, which seed."""

    name: str
    env_id: str
    agent: str
    seed: int
    env_options: dict
    agent_options: dict

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Trial":
        return cls(**data)


def _short(name: str) -> str:
    """A file-name-safe short form of an env id or agent name."""
    tail = name.split("/")[-1].split(":")[-1].split(".")[-1]
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in tail)


def trial_name(env_id: str, agent: str, seed: int, option_set: int | None = None,
               env_options: dict | None = None) -> str:
    """``<Env>-<agent>-seed<N>``, with ``-opts<K>`` when the sweep has several env option sets.
    An option set that swaps the env's task names the task it runs (``StringTask-SkillList-v0``)."""
    env = _short(env_id)
    task = (env_options or {}).get("task")
    spec = gym.registry.get(env_id)
    if isinstance(task, str) and spec is not None and task != spec.kwargs.get("task") and "-" in env:
        env = f"{_short(task)}-{env.split('-', 1)[1]}"
    name = f"{env}-{_short(agent)}-seed{seed}"
    return name if option_set is None else f"{name}-opts{option_set}"


def parse_seeds(text: str) -> list[int]:
    """``"0-4"``, ``"0,3,7"`` or ``"0-2,9"`` -> the seeds; SweepError naming the bad part."""
    seeds: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        low, dash, high = part.partition("-")
        try:
            values = list(range(int(low), int(high) + 1)) if dash else [int(part)]
        except ValueError:
            values = []
        if not values or min(values) < 0:
            raise SweepError(
                f"--seeds: expected non-negative seeds like '0-4' or '0,3,7', got {text!r} (bad part {part!r})."
            )
        seeds.extend(values)
    if len(set(seeds)) != len(seeds):
        raise SweepError(f"--seeds: expected each seed once, got {text!r}, which repeats some.")
    return seeds


@dataclasses.dataclass
class SweepGrid:
    """What a sweep runs. ``agents`` empty: each env's default agent. ``agent_options`` is one
    object for every agent, or an object per agent name (``{"exp3s": {"gamma": 0.1}}``)."""

    envs: list[str]
    agents: list[str]
    seeds: list[int]
    env_options: list[dict] = dataclasses.field(default_factory=lambda: [{}])
    agent_options: dict = dataclasses.field(default_factory=dict)
    #: the user's modules (``--import``) every trial imports first: ``{"module", "path"}`` each
    imports: list[dict] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.envs:
            raise SweepError("Expected at least one env (--env), got none.")
        if not self.seeds:
            raise SweepError("Expected at least one seed (--seeds), got none.")
        if not self.env_options:
            raise SweepError("Expected at least one env option set (--env-options), got an empty list.")
        for k, options in enumerate(self.env_options):
            if not isinstance(options, dict):
                raise SweepError(f"--env-options: expected JSON objects, got {options!r} at position {k}.")
        for label, values in (("--env", self.envs), ("--agent", self.agents)):
            if len(set(values)) != len(values):
                raise SweepError(f"{label}: expected each value once, got {values}.")
        texts = [json.dumps(o, sort_keys=True) for o in self.env_options]
        if len(set(texts)) != len(texts):
            raise SweepError(f"--env-options: expected distinct option sets, got {self.env_options}.")
        if not isinstance(self.agent_options, dict):
            raise SweepError(f"--agent-options: expected a JSON object, got {self.agent_options!r}.")

    def options_for(self, agent: str) -> dict:
        from datagym.agents.registry import AGENTS

        per_agent = self.agent_options and all(
            key in (self.agents if self.agents != [ALL_AGENTS] else AGENTS) and isinstance(value, dict)
            for key, value in self.agent_options.items()
        )
        return dict(self.agent_options.get(agent, {})) if per_agent else dict(self.agent_options)

    def trials(self) -> list[Trial]:
        from datagym.agents.registry import default_agent

        several = len(self.env_options) > 1
        trials = []
        fitting = {env_id: self.agents_for(env_id) for env_id in self.envs}
        for env_id, agents in fitting.items():
            if self.agents and not agents:
                raise SweepError(f"--env {env_id}: expected at least one --agent written for its level, got none "
                                 f"of {self.agents}.")
        for env_id in self.envs:
            for k, options in enumerate(self.env_options):
                for agent in fitting[env_id] if self.agents else [default_agent(env_id)]:
                    for seed in self.seeds:
                        trials.append(Trial(
                            name=trial_name(env_id, agent, seed, k if several else None, options),
                            env_id=env_id, agent=agent, seed=int(seed),
                            env_options=dict(options), agent_options=self.options_for(agent),
                        ))
        names = [t.name for t in trials]
        clash = sorted({n for n in names if names.count(n) > 1})
        if clash:
            raise SweepError(f"Expected distinct trial names, got {clash} more than once; name agents apart.")
        return trials

    def agents_for(self, env_id: str) -> list[str]:
        """The grid's agents that are written for ``env_id``'s level (``all``: every registered
        one). An agent of another level is left out of that env's trials; an agent that fits
        no env of the grid is an error, never silently dropped."""
        from datagym.agents.registry import AGENTS, agent_class
        from datagym.registration import env_level

        level = env_level(env_id)
        names = list(AGENTS) if self.agents == [ALL_AGENTS] else self.agents
        out = [a for a in names if level in agent_class(a).levels]
        if self.agents and self.agents != [ALL_AGENTS]:
            for agent in self.agents:
                levels = agent_class(agent).levels
                envs_levels = {env_level(e) for e in self.envs}
                if not set(levels) & envs_levels:
                    raise SweepError(
                        f"--agent: {agent!r} is written for {list(levels)} envs; expected an agent for one of "
                        f"the grid's levels {sorted(envs_levels)}."
                    )
        return out

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "SweepGrid":
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})


def planned_steps(env: gym.Env) -> int:
    """How many steps an episode of ``env`` takes at most (the budget or the step limit)."""
    config = env.unwrapped.config
    steps = math.ceil(config.total_budget / config.step_budget)
    limit = (env.spec or env.unwrapped.spec).max_episode_steps if (env.spec or env.unwrapped.spec) else None
    return min(steps, limit) if limit else steps


def validate(grid: SweepGrid) -> dict[str, int]:
    """Build every env (per option set) and agent of ``grid`` in-process, as ``datagym run``
    does, so bad input fails here, before anything is written. Returns each trial's planned
    steps. Raises UnknownNameError / ConfigError / SweepError naming what is wrong."""
    from datagym.agents.registry import make_agent
    from datagym.plugins import reimport
    from datagym.registration import require_teacher_env

    reimport(grid.imports)
    for env_id in grid.envs:
        require_teacher_env(env_id)
    trials = grid.trials()
    steps: dict[str, int] = {}
    built: dict[tuple[str, int], tuple[gym.Env, int]] = {}
    for env_id in grid.envs:
        for k, options in enumerate(grid.env_options):
            try:
                env = gym.make(env_id, **options)
            except (DatagymError, ValueError, TypeError) as exc:
                raise ConfigError(f"--env-options set {k} for {env_id}: {exc}") from exc
            built[(env_id, k)] = (env, planned_steps(env))
    for trial in trials:
        k = next(i for i, o in enumerate(grid.env_options) if o == trial.env_options)
        env, n = built[(trial.env_id, k)]
        make_agent(trial.agent, env, **trial.agent_options)
        steps[trial.name] = n
    for env, _ in built.values():
        env.close()
    return steps


# -- the sweep directory --------------------------------------------------------------------
class SweepDirectory:
    """``sweep.json`` and one run directory per trial."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    @property
    def sweep_file(self) -> Path:
        return self.path / SWEEP_FILE

    def run_dir(self, trial: Trial | str) -> Path:
        return self.path / (trial if isinstance(trial, str) else trial.name)

    def read(self) -> dict | None:
        if not self.sweep_file.exists():
            return None
        try:
            data = json.loads(self.sweep_file.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise SweepError(f"Expected a sweep description in {str(self.sweep_file)!r}; it does not parse: {exc}.")
        if not isinstance(data, dict) or "grid" not in data:
            raise SweepError(f"Expected a sweep description with a 'grid' in {str(self.sweep_file)!r}.")
        return data

    def grid(self) -> SweepGrid:
        data = self.read()
        if data is None:
            raise SweepError(
                f"Expected a sweep directory with {SWEEP_FILE} at {str(self.path)!r}; found none. "
                f"Start one with `datagym sweep --out DIR ...`."
            )
        return SweepGrid.from_json(data["grid"])

    def check_can_hold(self, grid: SweepGrid) -> None:
        """Refuse a directory that is a file, holds another sweep, or holds files but no sweep."""
        if self.path.exists() and not self.path.is_dir():
            raise SweepError(f"--out: expected a directory or a new path, got {str(self.path)!r}, which is a file.")
        existing = self.read()
        if existing is not None:
            if SweepGrid.from_json(existing["grid"]).to_json() != grid.to_json():
                raise SweepError(
                    f"--out: {str(self.path)!r} holds a sweep of another grid ({existing['grid']}); expected the "
                    f"same grid to resume it ({grid.to_json()}). Pick another --out, or resume it with "
                    f"`datagym sweep --resume {self.path}`."
                )
        elif self.path.is_dir() and any(self.path.iterdir()):
            raise SweepError(
                f"--out: {str(self.path)!r} already holds files but no {SWEEP_FILE}; expected a new or empty "
                f"directory, or a sweep directory to resume."
            )

    def write(self, grid: SweepGrid, trials: list[Trial]) -> None:
        if self.read() is not None:
            return  # resuming: the grid is the same (checked), keep the first description
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.sweep_file, {
            "format": SWEEP_FORMAT,
            "grid": grid.to_json(),
            "trials": [t.to_json() for t in trials],
            "datagym_version": datagym.__version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        })

    def finished(self, trial: Trial) -> dict | None:
        run = RunDirectory(self.run_dir(trial))
        return run.summary() if run.config_path.exists() else None


# -- progress, reported by the trials -------------------------------------------------------
class ProgressBoard:
    """A Ray actor the trials report to (start, each finished step, end); the driver reads it.

    It outlives the trials' workers, so it also counts attempts: a killed and retried trial
    reports a second start, with the step its checkpoint resumes from.
    """

    def __init__(self) -> None:
        self.trials: dict[str, dict] = {}

    def _trial(self, name: str) -> dict:
        return self.trials.setdefault(name, {
            "attempts": 0, "pid": None, "step": 0, "max_step": 0, "resumed_from": [],
            "steps_redone": 0, "steps_run": 0, "running": False, "last": None,
        })

    def started(self, name: str, pid: int, steps_done: int) -> int:
        t = self._trial(name)
        t["attempts"] += 1
        t["pid"], t["step"], t["running"] = pid, steps_done, True
        if t["attempts"] > 1:
            t["resumed_from"].append(steps_done)
            t["steps_redone"] += max(0, t["max_step"] - steps_done)  # finished steps done again
        return t["attempts"]

    def stepped(self, name: str, step: int, brief: dict) -> None:
        t = self._trial(name)
        t["step"], t["max_step"], t["last"] = step, max(t["max_step"], step), brief
        t["steps_run"] += 1

    def ended(self, name: str) -> None:
        self._trial(name)["running"] = False

    def snapshot(self) -> dict[str, dict]:
        return json.loads(json.dumps(self.trials))


def _brief(record: dict) -> dict:
    return {
        "step": record["step"],
        "reward": float(record["reward"]),
        "macro_accuracy": float(record.get("student/macro_accuracy", float("nan"))),
    }


class InjectedFault(RuntimeError):
    """Raised by ``FailOnce``: a failure made on purpose, to test retries."""


@dataclasses.dataclass(frozen=True)
class FailOnce:
    """Test and benchmark hook: the first attempt of each named trial fails after the given step.

    ``FailOnce({"trial-a": (1, "raise"), "trial-b": (2, "kill")})``: ``"raise"`` raises
    ``InjectedFault``; ``"kill"`` sends SIGKILL to the trial's own worker process.
    """

    failures: dict

    def __call__(self, name: str, attempt: int, step: int) -> None:
        after_step, how = self.failures.get(name, (None, None))
        if attempt != 1 or step != after_step:
            return
        if how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        raise InjectedFault(f"injected failure of {name!r} after step {step} (attempt {attempt})")


# -- one trial (runs in a Ray worker) ---------------------------------------------------------
def run_trial(trial: dict, run_dir: str, board: Any = None, fault: Callable | None = None,
              imports: list[dict] | None = None) -> dict:
    """Run (or resume, or skip if finished) one trial in ``run_dir``; return its summary.

    A first attempt starts the episode; a retry, or a later sweep over the same directory,
    finds the run's checkpoint and goes on from its last finished step. ``imports``: the
    user's modules to import first (a worker is a fresh process: their env ids and classes
    exist only once imported).
    """
    import ray

    from datagym.agents.registry import make_agent
    from datagym.plugins import reimport
    from datagym.runner import episode_config, load_resumable, resume_episode, run_episode

    reimport(imports)
    t = Trial.from_json(trial)
    run = RunDirectory(run_dir)
    done = run.summary() if run.config_path.exists() else None
    if done is not None:
        return done
    resumable = load_resumable(run_dir) if run.config_path.exists() else None
    steps_done = resumable.steps_done if resumable is not None else 0
    attempt = ray.get(board.started.remote(t.name, os.getpid(), steps_done)) if board is not None else 1

    def on_step(record: dict) -> None:
        if board is not None:
            board.stepped.remote(t.name, record["step"], _brief(record))
        if fault is not None:
            fault(t.name, attempt, record["step"])

    try:
        if resumable is not None:
            logger.info("%s: resuming after step %d (attempt %d)", t.name, steps_done, attempt)
            return resume_episode(resumable, on_step=on_step)
        env = gym.make(t.env_id, **t.env_options)
        agent = make_agent(t.agent, env, **t.agent_options)
        config = episode_config(env, t.agent, t.agent_options, t.seed, imports=imports)
        # no config.json yet: whatever is there is a dead attempt's leftovers
        return run_episode(env, agent, seed=t.seed, out_dir=run_dir, config=config, overwrite=True, on_step=on_step)
    finally:
        if board is not None:
            board.ended.remote(t.name)


# -- the driver -----------------------------------------------------------------------------
@dataclasses.dataclass
class TrialStatus:
    trial: Trial
    state: str = "pending"  # pending | running | done | skipped | failed
    planned_steps: int = 0
    steps: int = 0
    attempts: int = 0
    resumed_from: list[int] = dataclasses.field(default_factory=list)
    steps_redone: int = 0
    pid: int | None = None
    error: str | None = None
    summary: dict | None = None


@dataclasses.dataclass
class SweepResult:
    path: Path
    trials: dict[str, TrialStatus]

    def count(self, state: str) -> int:
        return sum(1 for s in self.trials.values() if s.state == state)

    @property
    def failed(self) -> list[TrialStatus]:
        return [s for s in self.trials.values() if s.state == "failed"]


UpdateCallback = Callable[[dict[str, TrialStatus], list[tuple[str, TrialStatus]]], None]


def run_sweep(
    grid: SweepGrid,
    out: str | os.PathLike,
    *,
    max_retries: int = 2,
    trial_cpus: float | None = None,
    on_update: UpdateCallback | None = None,
    fault: Callable | None = None,
    poll_seconds: float = 0.5,
    planned: dict[str, int] | None = None,
) -> SweepResult:
    """Run ``grid`` into sweep directory ``out`` on the running Ray instance; return every
    trial's status. Finished trials are skipped, unfinished ones resumed.

    ``trial_cpus``: CPUs each trial task asks for (default 1, or 0 for an env whose
    ``student_resources`` put the student, and its compute, in an actor of its own: a trial
    holding a CPU while its student waits for one could otherwise deadlock a full node).
    ``on_update(statuses, events)`` is called while it waits, with events such as
    ``("done", status)``. ``fault`` is a test hook (``FailOnce``).
    """
    import ray

    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise SweepError(f"--max-retries: expected an integer >= 0, got {max_retries!r}.")
    sweep = SweepDirectory(out)
    sweep.check_can_hold(grid)
    trials = grid.trials()
    planned = planned if planned is not None else validate(grid)
    sweep.write(grid, trials)

    statuses = {t.name: TrialStatus(trial=t, planned_steps=planned.get(t.name, 0)) for t in trials}
    events: list[tuple[str, TrialStatus]] = []
    to_run = []
    for t in trials:
        status = statuses[t.name]
        summary = sweep.finished(t)
        if summary is not None:
            status.state, status.summary = "skipped", summary
            status.steps = int(summary.get("steps", 0))
            events.append(("skipped", status))
        else:
            run = RunDirectory(sweep.run_dir(t))
            status.steps = len(run.steps()) if run.config_path.exists() else 0
            to_run.append(t)
    if not to_run:  # nothing left to do: Ray is not needed
        if on_update is not None:
            on_update(statuses, events)
        return SweepResult(path=sweep.path, trials=statuses)

    board = ray.remote(ProgressBoard).options(num_cpus=0).remote()
    remote_trial = ray.remote(run_trial)
    pending: dict[Any, str] = {}
    for t in to_run:
        cpus = trial_cpus if trial_cpus is not None else (0 if t.env_options.get("student_resources") else 1)
        ref = remote_trial.options(
            num_cpus=cpus, max_retries=max_retries, retry_exceptions=True, name=f"datagym-trial:{t.name}"
        ).remote(t.to_json(), str(sweep.run_dir(t)), board, fault, grid.imports)
        pending[ref] = t.name

    try:
        while True:
            if pending:
                ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=poll_seconds)
            else:
                ready = []
            snapshot = ray.get(board.snapshot.remote())
            for name, seen in snapshot.items():
                status = statuses[name]
                status.attempts, status.pid = seen["attempts"], seen["pid"]
                status.resumed_from, status.steps_redone = list(seen["resumed_from"]), seen["steps_redone"]
                status.steps = seen["step"]
                if status.state == "pending" and seen["running"]:
                    status.state = "running"
            for ref in ready:
                status = statuses[pending.pop(ref)]
                try:
                    status.summary = ray.get(ref)
                    status.state, status.steps = "done", int(status.summary["steps"])
                except Exception as exc:  # retries spent: the trial failed; the others go on
                    cause = getattr(exc, "cause", None) or exc
                    status.state = "failed"
                    status.error = f"{type(cause).__name__}: {str(cause).strip().splitlines()[-1] if str(cause).strip() else ''}"
                events.append((status.state, status))
            if on_update is not None:
                on_update(statuses, events)
            events = []
            if not pending:
                break
    except BaseException:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        ray.kill(board)
    return SweepResult(path=sweep.path, trials=statuses)
