"""Run one episode of an agent in an env, optionally recording it in a run directory."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Any, Callable

import gymnasium as gym
import numpy as np

import datagym
from datagym.errors import RunDirectoryError
from datagym.run_dir import CHECKPOINT_FORMAT, RunDirectory

logger = logging.getLogger(__name__)

StepCallback = Callable[[dict], None]


def _action_json(action: Any) -> Any:
    """The action as JSON: arrays as lists, Dict actions key by key, text as it came."""
    if isinstance(action, np.ndarray):
        if action.dtype.kind in "biu":
            return [int(x) for x in action.ravel()]
        return [round(float(x), 6) for x in action.ravel()]
    if isinstance(action, dict):
        return {str(k): _action_json(v) for k, v in action.items()}
    if isinstance(action, (list, tuple)):
        return [_action_json(v) for v in action]
    if isinstance(action, np.generic):
        return action.item()
    if isinstance(action, bytes):
        return action.decode("utf-8", errors="replace")
    return action


def _student_config(unwrapped: Any) -> dict:
    config = getattr(getattr(unwrapped, "student", None), "config", None)
    return dataclasses.asdict(config) if dataclasses.is_dataclass(config) else {}


def agent_name(agent: Any) -> str:
    """What a run records as its agent: the registered name of the agent's class, else its
    ``package.module:Class``, so that ``--resume`` and the leaderboard can rebuild and name it."""
    from datagym.agents.registry import AGENTS

    cls = type(agent)
    path = f"{cls.__module__}:{cls.__qualname__}"
    return next((name for name, target in AGENTS.items() if target == path), path)


def env_names(env: gym.Env) -> tuple[str, str]:
    """(display name, short name) of an env: its id, and when its task is not the one the id
    registers, the task it really runs (``datagym/Arithmetic-SkillList-v0 with task
    mytasks:StringTask``; short ``StringTask-SkillList-v0``), so headers, plots and run
    directory names never call another task Arithmetic."""
    spec = env.spec or env.unwrapped.spec
    unwrapped = env.unwrapped
    env_id = spec.id if spec is not None else type(unwrapped).__name__
    short = env_id.split("/")[-1]
    config = getattr(unwrapped, "config", None)
    if spec is None or config is None:
        return env_id, short
    registered = gym.registry[spec.id].kwargs.get("task") if spec.id in gym.registry else None
    if registered is None or config.task == registered:
        return env_id, short
    task_label = config.task.split(":")[-1].split(".")[-1]
    rest = short.split("-", 1)[1] if "-" in short else short
    return f"{env_id} with task {config.task}", f"{task_label}-{rest}"


def episode_config(env: gym.Env, agent_name: str, agent_options: dict, seed: int,
                   imports: list[dict] | None = None) -> dict:
    """What ``config.json`` holds: everything needed to rebuild the episode and to name it."""
    spec = env.spec or env.unwrapped.spec
    unwrapped = env.unwrapped
    task = getattr(unwrapped, "task", None)
    display, short = env_names(env)
    return {
        "env_id": spec.id if spec is not None else type(unwrapped).__name__,
        "env_name": display,
        "env_short_name": short,
        "env_options": dict(spec.kwargs) if spec is not None else {},
        # what the id itself registers: the leaderboard tells the user's options from these
        "registered_env_options": (
            dict(gym.registry[spec.id].kwargs) if spec is not None and spec.id in gym.registry else {}
        ),
        # every setting the env ran with, defaults included, so old runs stay readable
        "env_config": unwrapped.config.to_json() if hasattr(unwrapped, "config") else {},
        "task": {"name": getattr(task, "name", None), "version": getattr(task, "version", None)},
        "level": getattr(unwrapped, "level", None),
        "student_config": _student_config(unwrapped),
        "max_episode_steps": spec.max_episode_steps if spec is not None else None,
        "agent": agent_name,
        "agent_options": agent_options,
        "seed": seed,
        "skills": list(getattr(unwrapped, "skill_names", [])),
        "imports": list(imports or []),
        "datagym_version": datagym.__version__,
    }


@dataclasses.dataclass
class EpisodeState:
    """Where an episode stands between steps: what the agent acts on next and what was recorded."""

    obs: Any
    info: dict
    records: list[dict]
    curve: list[float]
    initial_accuracy: dict
    elapsed: float = 0.0  # seconds spent in earlier processes (a resumed run adds its own)
    done: bool = False


@dataclasses.dataclass
class Resumable:
    """A run directory's episode, rebuilt and ready to go on from its last finished step."""

    env: gym.Env
    agent: Any
    config: dict
    state: EpisodeState
    run_dir: RunDirectory

    @property
    def steps_done(self) -> int:
        return len(self.state.records)


def build_from_config(config: dict) -> tuple[gym.Env, Any]:
    """The env and agent a run directory's ``config.json`` describes, freshly built (the
    user's modules it records imported first, so their env ids and classes exist)."""
    from datagym.agents.registry import make_agent
    from datagym.plugins import reimport

    reimport(config.get("imports"))
    env = gym.make(config["env_id"], **config.get("env_options", {}))
    agent = make_agent(config["agent"], env, **config.get("agent_options", {}))
    return env, agent


def run_episode(
    env: gym.Env,
    agent,
    seed: int = 0,
    out_dir: str | None = None,
    config: dict | None = None,
    overwrite: bool = False,
    on_step: StepCallback | None = None,
    agent_options: dict | None = None,
) -> dict:
    """Run ``agent`` in ``env`` for one episode from ``seed``; return the summary.

    With ``out_dir`` the episode is recorded as a run directory (see ``datagym.run_dir``),
    with a checkpoint after every finished step so that ``resume_episode`` can go on from it.
    Without ``config``, ``config.json`` is what ``datagym run`` writes (``episode_config``),
    with the agent named by ``agent_name(agent)`` and ``agent_options`` (the options it was
    built with, if any), so ``datagym leaderboard``, ``plot`` and ``--resume`` read the run.
    ``on_step`` is called with each step's record (the CLI draws its table with it).
    """
    if config is None:
        config = episode_config(env, agent_name(agent), dict(agent_options or {}), seed)
    run_dir = RunDirectory(out_dir) if out_dir is not None else None
    if run_dir is not None:
        run_dir.create(config, overwrite=overwrite)
    state = _start(env, agent, seed)
    return _go_on(env, agent, state, run_dir, config, on_step)


def _start(env: gym.Env, agent, seed: int) -> EpisodeState:
    obs, info = env.reset(seed=seed)
    agent.reset(seed)
    return EpisodeState(
        obs=obs,
        info=info,
        records=[],
        curve=[float(info["student/macro_accuracy"])],
        initial_accuracy=dict(info.get("student/accuracy", {})),
    )


def load_resumable(out_dir: str | os.PathLike) -> Resumable:
    """Rebuild the episode of an unfinished run directory from its last checkpoint.

    A run killed at any point (``kill -9`` mid-step included) goes on from its last finished
    step: the steps after it are redone and, with the same seed, come out exactly as in a run
    that was never interrupted. Lines and data files of unfinished steps are dropped first, so
    no example is recorded twice. A run killed before its first step finished starts over.
    """
    run_dir = RunDirectory(out_dir)
    config = run_dir.config()
    if run_dir.summary() is not None:
        raise RunDirectoryError(
            f"Expected an unfinished run directory, got {str(run_dir.path)!r}, which finished "
            f"(summary.json exists). Start a new run with another --out."
        )
    from datagym.plugins import reimport

    reimport(config.get("imports"))  # the checkpoint may pickle the user's own classes
    checkpoint = run_dir.checkpoint()
    if checkpoint is None:
        env, agent = build_from_config(config)
        state = _start(env, agent, int(config.get("seed", 0)))
    else:
        env, agent = checkpoint["env"], checkpoint["agent"]
        state = checkpoint["state"]
    run_dir.truncate(state.records)
    return Resumable(env=env, agent=agent, config=config, state=state, run_dir=run_dir)


def resume_episode(resumable: Resumable | str | os.PathLike, on_step: StepCallback | None = None) -> dict:
    """Finish the episode of an unfinished run directory; return the summary."""
    if not isinstance(resumable, Resumable):
        resumable = load_resumable(resumable)
    r = resumable
    logger.info("resuming %s after step %d", r.run_dir.path, r.steps_done)
    return _go_on(r.env, r.agent, r.state, r.run_dir, r.config, on_step)


def _go_on(
    env: gym.Env,
    agent,
    state: EpisodeState,
    run_dir: RunDirectory | None,
    config: dict,
    on_step: StepCallback | None,
) -> dict:
    started = time.perf_counter() - state.elapsed
    obs, info, records, curve = state.obs, state.info, state.records, state.curve
    terminated = truncated = state.done
    while not (terminated or truncated):
        action = agent.act(obs, info)
        # what the agent reports of its own step (an LLM agent's requests and tokens), if anything
        agent_info = agent.step_info() if hasattr(agent, "step_info") else {}
        obs, reward, terminated, truncated, info = env.step(action)
        curve.append(float(info["student/macro_accuracy"]))
        record = {
            "step": len(records) + 1,
            "action": _action_json(action),
            "reward": float(reward),
            "terminated": bool(terminated),
            "truncated": bool(truncated),
            **{k: v for k, v in info.items()},
            **agent_info,
        }
        records.append(record)
        state.obs, state.info, state.done = obs, info, bool(terminated or truncated)
        state.elapsed = time.perf_counter() - started
        if run_dir is not None:
            examples = [ex.to_json() for ex in env.unwrapped.last_examples]
            # Data, then the step's line, then the checkpoint: a checkpoint never runs ahead.
            run_dir.write_step_data(record["step"], examples)
            run_dir.write_steps(records)
            run_dir.write_checkpoint({"format": CHECKPOINT_FORMAT, "env": env, "agent": agent, "state": state})
        if on_step is not None:
            on_step(record)
        logger.info("step %d reward %+.4f macro %.4f", record["step"], reward, curve[-1])

    final = info if "student/test_macro_accuracy" in info else {**info, **env.unwrapped.test_metrics()}
    summary = summarize(records, curve, final, time.perf_counter() - started)
    summary["initial_accuracy"] = state.initial_accuracy
    if hasattr(agent, "episode_info"):
        summary.update(agent.episode_info())
    if run_dir is not None:
        run_dir.write_summary({**config, **summary})
        run_dir.remove_checkpoint()
    return summary


def summarize(records: list[dict], curve: list[float], final: dict, seconds: float) -> dict:
    def total(key: str) -> float:
        return float(sum(r.get(key, 0.0) for r in records))

    rejected: dict[str, int] = {}
    for r in records:
        for reason, n in r.get("teacher/rejected", {}).items():
            rejected[reason] = rejected.get(reason, 0) + int(n)
    return {
        "steps": len(records),
        "return": float(sum(r["reward"] for r in records)),
        "validation_curve": curve,
        "validation_auc": float(np.mean(curve)),
        "final_validation_macro_accuracy": curve[-1],
        "test_macro_accuracy": float(final["student/test_macro_accuracy"]),
        "test_accuracy": final["student/test_accuracy"],
        "examples_generated": int(total("teacher/generated")),
        "examples_accepted": int(total("teacher/accepted")),
        "examples_rejected": rejected,
        "seconds": {
            "total": seconds,
            "generate": total("time/generate"),
            "verify": total("time/verify"),
            "train": total("time/train"),
            "evaluate": total("time/evaluate") + total("time/test"),
        },
    }
