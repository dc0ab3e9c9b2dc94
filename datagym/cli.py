"""The ``datagym`` command: run an episode, list envs and agents, plot a run directory.

    datagym run                      # the default env and agent, seed 0, into runs/...
    datagym run --agent uniform --seed 3 --total-budget 1920 --out runs/u3
    datagym list
    datagym plot runs/u3

Only this module prints; the library logs through ``logging``. Bad input is one line on
stderr and exit code 2, found before anything is written.
"""

from __future__ import annotations

import inspect
import json
import logging
import math
import shlex
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, List, Optional

import gymnasium as gym
import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

import datagym
from datagym.agents.registry import AGENTS, DEFAULT_AGENTS, agent_class, default_agent, make_agent
from datagym.env_config import EnvConfig
from datagym.errors import DatagymError, RunDirectoryError
from datagym.registration import DEFAULT_ENV_ID, ENVS, env_ids, load_object
from datagym.run_dir import RunDirectory

app = typer.Typer(
    help="datagym: a Gymnasium-style gym for data-generation (teacher) agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)


class UsageError(Exception):
    """Bad input from the command line: printed as one line, exit code 2."""


def _fail(message: str) -> None:
    errors.print(Text("error: ", style="bold red") + Text(message), soft_wrap=True)
    raise typer.Exit(code=2)


def _json_option(flag: str, text: Optional[str]) -> dict:
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{flag}: expected a JSON object, got {text!r} ({exc.msg}).") from None
    if not isinstance(value, dict):
        raise UsageError(f"{flag}: expected a JSON object like '{{\"epochs\": 4}}', got {text!r}.")
    return value


def _env_options(
    env_options: Optional[str],
    total_budget: Optional[int],
    step_budget: Optional[int],
    student_options: Optional[str],
    task_options: Optional[str],
) -> dict:
    """``--env-options`` with the dedicated flags on top (a flag wins over the same key)."""
    options = _json_option("--env-options", env_options)
    for key, value in (
        ("total_budget", total_budget),
        ("step_budget", step_budget),
        ("student_options", _json_option("--student-options", student_options) if student_options else None),
        ("task_options", _json_option("--task-options", task_options) if task_options else None),
    ):
        if value is not None:
            options[key] = value
    return options


def _check_env_id(env_id: str) -> None:
    if env_id in env_ids():
        return
    if env_id not in gym.registry:
        raise UsageError(f"--env: unknown env {env_id!r}; expected one of: {', '.join(env_ids())}.")
    # Another package's env registered with Gymnasium: fine if it is a datagym TeacherEnv.
    from datagym.teacher_env import TeacherEnv

    entry_point = gym.registry[env_id].entry_point
    cls = load_object(entry_point) if isinstance(entry_point, str) else entry_point
    if not (isinstance(cls, type) and issubclass(cls, TeacherEnv)):
        raise UsageError(f"--env: expected a datagym env (one of: {', '.join(env_ids())}), got {env_id!r}.")


def _check_out_dir(out: Path, overwrite: bool) -> None:
    # RunDirectory.create makes the same checks; making them first saves building the env in vain.
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out: expected a directory or a new path, got {str(out)!r}, which is a file.")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise UsageError(
            f"--out: run directory {str(out)!r} already holds files; expected a new or empty "
            f"directory. Pick another --out, or pass --overwrite."
        )


def _default_out(env_id: str, agent: str, seed: int) -> Path:
    short = env_id.split("/")[-1]
    name = agent.split(":")[-1].split(".")[-1]
    base = Path("runs") / f"{short}-{name}-seed{seed}-{time.strftime('%Y%m%d-%H%M%S')}"
    out, n = base, 1
    while out.exists():  # two runs started in the same second
        n += 1
        out = base.with_name(f"{base.name}-{n}")
    return out


@contextmanager
def _logging_to_console(verbose: bool) -> Iterator[None]:
    """Route log records to stderr through rich while a command runs, then put things back.

    The library only logs; here its records print cleanly above the progress bar. Warnings
    always show; datagym's INFO lines with --verbose. Restoring matters when the app runs
    inside another process (tests, notebooks): their logging must not change under them.
    """
    root, ours = logging.getLogger(), logging.getLogger("datagym")
    saved = (list(root.handlers), root.level, ours.level)
    handler = RichHandler(console=errors, show_path=False, show_time=False, markup=False)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    root.handlers = [handler]
    root.setLevel(logging.WARNING)
    ours.setLevel(logging.INFO if verbose else logging.WARNING)
    try:
        yield
    finally:
        root.handlers, root.level = saved[0], saved[1]
        ours.setLevel(saved[2])


# -- the per-step table, printed a row at a time as steps finish ------------------------------
STEP_COLUMNS: tuple[tuple[str, int], ...] = (
    ("step", 4),
    ("reward", 8),
    ("macro val acc", 13),
    ("accepted", 8),
    ("rejected", 8),
    ("train s", 7),
    ("eval s", 6),
)


def step_header() -> Text:
    return Text("  ".join(f"{name:>{width}}" for name, width in STEP_COLUMNS), style="bold")


def _seconds(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}"  # None: the env was made with timings=False


def step_row(record: dict[str, Any]) -> Text:
    """One row of the step table from one record of ``steps.jsonl``."""
    rejected = sum(int(n) for n in record.get("teacher/rejected", {}).values())
    reward = float(record["reward"])
    cells = (
        (str(record["step"]), ""),
        (f"{reward:+.4f}", "green" if reward > 0 else "red" if reward < 0 else ""),
        (f"{record['student/macro_accuracy']:.4f}", ""),
        (str(record.get("teacher/accepted", 0)), ""),
        (str(rejected), "yellow" if rejected else ""),
        (_seconds(record.get("time/train")), ""),
        (_seconds(record.get("time/evaluate")), ""),
    )
    row = Text()
    for i, ((value, style), (_, width)) in enumerate(zip(cells, STEP_COLUMNS)):
        row.append(("  " if i else "") + f"{value:>{width}}", style=style or None)
    return row


def _version(value: bool) -> None:
    if value:
        console.print(f"datagym {datagym.__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """datagym: a Gymnasium-style gym for data-generation (teacher) agents."""


@app.command()
def run(
    env: Optional[str] = typer.Option(None, "--env", help="Env id (see `datagym list`).", show_default=DEFAULT_ENV_ID),
    agent: Optional[str] = typer.Option(
        None, "--agent", help="Agent name (see `datagym list`) or package.module:Class.",
        show_default="the env level's default, see `datagym list`",
    ),
    agent_options: Optional[str] = typer.Option(None, "--agent-options", help="Agent options as a JSON object."),
    seed: Optional[int] = typer.Option(None, "--seed", min=0, help="Episode seed (same seed, same episode).", show_default="0"),
    out: Optional[Path] = typer.Option(
        None, "--out", help="Run directory.", show_default="runs/<env>-<agent>-seed<N>-<time>"
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the files of an existing run directory."),
    total_budget: Optional[int] = typer.Option(None, "--total-budget", help="Examples per episode.", show_default=f"{EnvConfig.total_budget}"),
    step_budget: Optional[int] = typer.Option(None, "--step-budget", help="Examples per step.", show_default=f"{EnvConfig.step_budget}"),
    student_options: Optional[str] = typer.Option(
        None, "--student-options", help='Student options as a JSON object, e.g. \'{"epochs": 4}\'.'
    ),
    task_options: Optional[str] = typer.Option(None, "--task-options", help="Task options as a JSON object."),
    env_options: Optional[str] = typer.Option(
        None, "--env-options", help="Any env options as a JSON object; the flags above win over the same keys."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also show datagym's log lines."),
    resume: Optional[Path] = typer.Option(
        None, "--resume", help="Go on with the unfinished run in this directory from its last finished step "
        "(the rest is identical to an uninterrupted run); takes no other run flags.",
    ),
) -> None:
    """Run one episode of a teacher and record it in a run directory."""
    with _logging_to_console(verbose):
        if resume is not None:
            given = [flag for flag, value in (
                ("--env", env), ("--agent", agent), ("--agent-options", agent_options), ("--seed", seed),
                ("--out", out), ("--overwrite", overwrite or None), ("--total-budget", total_budget),
                ("--step-budget", step_budget), ("--student-options", student_options),
                ("--task-options", task_options), ("--env-options", env_options),
            ) if value is not None]
            if given:
                _fail(f"--resume takes the run's settings from its config.json; expected no other run flags, "
                      f"got {', '.join(given)}.")
                return
            _resume(resume, verbose)
            return
        _run(env or DEFAULT_ENV_ID, agent, agent_options, seed or 0, out, overwrite, total_budget, step_budget,
             student_options, task_options, env_options, verbose)


def _resume(run_dir: Path, verbose: bool) -> None:
    from datagym.runner import load_resumable, resume_episode

    try:
        if not run_dir.is_dir():
            raise UsageError(f"--resume: expected a run directory, got {str(run_dir)!r}, which is not a directory.")
        resumable = load_resumable(run_dir)
    except (UsageError, DatagymError, ValueError, TypeError) as exc:
        _fail(str(exc))
        return
    config = resumable.config
    console.print(
        Text.assemble("resuming ", (str(run_dir), "cyan"), f" after step {resumable.steps_done}"), soft_wrap=True
    )
    _drive(
        resumable.env, config["agent"], int(config.get("seed", 0)), run_dir, config, verbose,
        lambda on_step: resume_episode(resumable, on_step=on_step), steps_done=resumable.steps_done,
    )


def _run(
    env: str,
    agent: Optional[str],
    agent_options: Optional[str],
    seed: int,
    out: Optional[Path],
    overwrite: bool,
    total_budget: Optional[int],
    step_budget: Optional[int],
    student_options: Optional[str],
    task_options: Optional[str],
    env_options: Optional[str],
    verbose: bool,
) -> None:
    from datagym.runner import episode_config, run_episode

    try:
        options = _env_options(env_options, total_budget, step_budget, student_options, task_options)
        agent_kwargs = _json_option("--agent-options", agent_options)
        _check_env_id(env)
        agent = agent or default_agent(env)
        if out is not None:
            _check_out_dir(out, overwrite)
        # Build everything before the run directory exists: bad input leaves nothing behind.
        environment = gym.make(env, **options)
        teacher = make_agent(agent, environment, **agent_kwargs)
    except (UsageError, DatagymError, ValueError, TypeError) as exc:
        _fail(str(exc))
        return

    out_dir = out or _default_out(env, agent, seed)
    config = episode_config(environment, agent, agent_kwargs, seed)
    _drive(
        environment, agent, seed, out_dir, config, verbose,
        lambda on_step: run_episode(
            environment, teacher, seed=seed, out_dir=str(out_dir), config=config, overwrite=overwrite, on_step=on_step
        ),
    )


def _drive(
    environment: gym.Env,
    agent: str,
    seed: int,
    out_dir: Path,
    config: dict,
    verbose: bool,
    episode: Any,
    steps_done: int = 0,
) -> None:
    """Show the header, a row per finished step and a progress bar while ``episode(on_step)`` runs."""
    env = config.get("env_id", "?")
    unwrapped = environment.unwrapped
    budget, per_step = unwrapped.config.total_budget, unwrapped.config.step_budget
    max_steps = config.get("max_episode_steps")
    planned = math.ceil(budget / per_step) if max_steps is None else min(math.ceil(budget / per_step), max_steps)
    console.print(
        Text.assemble((env, "bold"), "  agent ", (agent, "bold"), f"  seed {seed}  budget {budget} examples, "
                      f"{per_step} a step (~{planned} steps)"),
        soft_wrap=True,
    )
    console.print(Text.assemble("run directory: ", (str(out_dir), "cyan")), soft_wrap=True)
    console.print(step_header())

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[spent]}/{task.fields[budget]} examples"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    # The episode ends when the budget is spent or at the step limit, whichever comes first, so
    # the bar shows the larger of the two fractions (a teacher that withholds data still moves it).
    task_id = progress.add_task("step 1", total=1.0, spent=0, budget=budget)
    finished: list[int] = []
    if steps_done:
        progress.update(task_id, description=f"step {steps_done + 1}")

    def on_step(record: dict[str, Any]) -> None:
        finished.append(record["step"])
        progress.console.print(step_row(record))
        spent = budget - int(record.get("teacher/budget_left", budget))
        done = spent / budget
        if max_steps:
            done = max(done, record["step"] / max_steps)
        last = record.get("terminated") or record.get("truncated")
        description = "done" if last else f"step {record['step'] + 1}"
        progress.update(task_id, completed=min(done, 1.0), spent=spent, description=description)

    try:
        with progress:
            summary = episode(on_step)
    except KeyboardInterrupt:
        errors.print(
            f"interrupted after {steps_done + len(finished)} finished step(s), recorded in {out_dir}; "
            f"go on with: datagym run --resume {shlex.quote(str(out_dir))}",
            soft_wrap=True,
        )
        raise typer.Exit(code=130) from None
    except RunDirectoryError as exc:
        _fail(str(exc))
        return
    except DatagymError as exc:
        # Not bad flags but a failure mid-episode (say, a user's agent gave an invalid action):
        # one line and exit 1; --verbose shows the traceback.
        if verbose:
            raise
        errors.print(
            Text("error: ", style="bold red")
            + Text(f"step {steps_done + len(finished) + 1} failed: {exc} (finished steps are in {out_dir}; "
                   f"--verbose shows the traceback)"),
            soft_wrap=True,
        )
        raise typer.Exit(code=1) from None

    rejected = summary["examples_rejected"]
    reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(rejected.items()))
    console.print(
        Text.assemble(
            "final test macro accuracy ",
            (f"{summary['test_macro_accuracy']:.4f}", "bold"),
            f"  (validation {summary['final_validation_macro_accuracy']:.4f} after {summary['steps']} steps, "
            f"{summary['seconds']['total']:.1f} s)",
        ),
        soft_wrap=True,
    )
    console.print(
        f"examples: {summary['examples_generated']} generated, {summary['examples_accepted']} accepted, "
        f"{sum(rejected.values())} rejected" + (f" ({reasons})" if reasons else ""),
        soft_wrap=True,
    )
    console.print(Text.assemble("run directory: ", (str(out_dir), "cyan")), soft_wrap=True)
    console.print(f"plot it:       datagym plot {shlex.quote(str(out_dir))}", soft_wrap=True)


def _summary_line(obj: Any) -> str:
    # obj.__doc__, not inspect.getdoc: a class without a docstring must not show its base's.
    doc = inspect.cleandoc(obj.__doc__ or "") or inspect.getdoc(inspect.getmodule(obj)) or ""
    # A docstring's summary can wrap over lines: take its first paragraph, rejoined.
    return " ".join(doc.split("\n\n")[0].split())


@app.command("list")
def list_() -> None:
    """Show the registered envs and agents."""
    envs = Table(title="envs", title_justify="left", header_style="bold")
    envs.add_column("id", no_wrap=True)
    envs.add_column("level", no_wrap=True)
    envs.add_column("max steps", justify="right")
    envs.add_column("description")
    for entry in ENVS:
        envs.add_row(entry.id, entry.level, str(entry.max_episode_steps), entry.description)
    console.print(envs)

    agents = Table(title="agents", title_justify="left", header_style="bold")
    # Names and classes are what a user types: never cut them; levels and the summary wrap.
    agents.add_column("name", no_wrap=True, min_width=max(len(n) for n in AGENTS))
    agents.add_column("class", no_wrap=True, min_width=max(len(p.rpartition(":")[2]) for p in AGENTS.values()))
    agents.add_column("levels", ratio=1)
    agents.add_column("what it does", ratio=2)
    for name, path in AGENTS.items():
        cls = agent_class(name)
        agents.add_row(name, path.rpartition(":")[2], ", ".join(cls.levels), _summary_line(cls))
    console.print(agents)
    defaults = ", ".join(f"{agent} ({level})" for level, agent in DEFAULT_AGENTS.items())
    console.print(f"defaults: --env {DEFAULT_ENV_ID}; --agent per env level: {defaults}", soft_wrap=True)
    console.print("your own agent: --agent package.module:Class (a datagym.agents.Agent subclass)", soft_wrap=True)


@app.command()
def plot(
    run_dir: Path = typer.Argument(..., help="A run directory written by `datagym run`."),
    out: Optional[Path] = typer.Option(None, "--out", help="Where to write the PNGs.", show_default="RUN_DIR"),
) -> None:
    """Write accuracy_heatmap.png (per-skill validation accuracy over steps) and reward.png."""
    from datagym.plotting import plot_accuracy_heatmap, plot_rewards

    directory = RunDirectory(run_dir)
    try:
        if not run_dir.exists():
            raise UsageError(f"RUN_DIR: expected a run directory, got {str(run_dir)!r}, which does not exist.")
        if not run_dir.is_dir():
            raise UsageError(f"RUN_DIR: expected a run directory, got {str(run_dir)!r}, which is a file.")
        config = directory.config()
        steps = directory.steps()
        summary = directory.summary()
    except (UsageError, DatagymError) as exc:
        _fail(str(exc))
        return
    except ValueError as exc:  # a hand-edited or foreign JSON file
        _fail(f"RUN_DIR: expected the JSON files of a run directory in {str(run_dir)!r}; one does not parse: {exc}.")
        return
    if out is not None and out.exists() and not out.is_dir():
        _fail(f"--out: expected a directory for the PNGs, got {str(out)!r}, which is a file.")
        return
    if not steps:
        _fail(f"RUN_DIR: expected at least one finished step in {str(directory.steps_path)!r}, found none.")
        return

    skills = config.get("skills") or sorted(steps[0].get("student/accuracy", {}))
    initial = (summary or {}).get("initial_accuracy") or None
    curve = (summary or {}).get("validation_curve")
    test = (summary or {}).get("test_macro_accuracy")
    if summary is None:
        errors.print(
            f"note: {str(directory.summary_path)!r} is missing (the run did not finish): plotting "
            f"steps 1..{len(steps)} without the accuracy at reset or the test score.",
            soft_wrap=True,
        )
    target = out or run_dir
    title = f"{config.get('env_id', '')}  {config.get('agent', '')}  seed {config.get('seed', '')}"
    written = [
        plot_accuracy_heatmap(steps, skills, target / "accuracy_heatmap.png", initial=initial, title=title),
        plot_rewards(steps, curve, target / "reward.png", title=title, test_macro_accuracy=test),
    ]
    for path in written:
        console.print(f"wrote {path}", soft_wrap=True)


@app.command()
def leaderboard(
    results_dir: Path = typer.Argument(..., help="A directory holding finished runs (any summary.json below it)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Where to write the files.", show_default="RESULTS_DIR"),
) -> None:
    """Rank teachers per env from finished runs: leaderboard.md, a CSV and a curve PNG per env."""
    from datagym.leaderboard import load_results, write

    try:
        results = load_results(results_dir)
        if out is not None and out.exists() and not out.is_dir():
            raise UsageError(f"--out: expected a directory, got {str(out)!r}, which is a file.")
        written = write(results, out or results_dir)
    except (UsageError, DatagymError) as exc:
        _fail(str(exc))
        return
    _print_board(written[0])
    for path in written:
        console.print(f"wrote {path}", soft_wrap=True)


def _print_board(markdown_path: Path) -> None:
    from rich.markdown import Markdown

    console.print(Markdown(markdown_path.read_text(encoding="utf-8")))


@app.command()
def evaluate(
    agent: str = typer.Option(..., "--agent", help="Your teacher: package.module:Class (or a registered name)."),
    agent_options: Optional[str] = typer.Option(None, "--agent-options", help="Agent options as a JSON object."),
    results: Path = typer.Option(
        Path("benchmarks/leaderboard/results"), "--results", help="The leaderboard's finished runs to rank against."
    ),
    seeds: int = typer.Option(5, "--seeds", min=1, help="Episodes per env (seeds 0..N-1), as the leaderboard runs."),
    out: Optional[Path] = typer.Option(None, "--out", help="Where your runs go.", show_default="runs/evaluate-<agent>-<time>"),
    env_options: Optional[str] = typer.Option(
        None, "--env-options", help="Env options as JSON; not the protocol: ranks only against runs made with the same options.",
    ),
) -> None:
    """Run your teacher under the leaderboard protocol and show where it would rank."""
    from datagym.leaderboard import board, load_results, overall
    from datagym.registration import ENVS
    from datagym.runner import episode_config, run_episode

    try:
        agent_kwargs = _json_option("--agent-options", agent_options)
        env_kwargs = _json_option("--env-options", env_options)
        cls = agent_class(agent)
        envs = [entry.id for entry in ENVS if entry.level in cls.levels]
        if not envs:
            raise UsageError(f"--agent: {agent!r} is written for {list(cls.levels)} envs; no registered env has that level.")
        baseline = load_results(results)
        name = agent.split(":")[-1].split(".")[-1]
        out_dir = out or Path("runs") / f"evaluate-{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        if out_dir.exists() and any(out_dir.iterdir()):
            raise UsageError(f"--out: expected a new or empty directory, got {str(out_dir)!r}, which holds files.")
        # Build every env and agent first: bad input fails before any episode runs.
        for env_id in envs:
            make_agent(agent, gym.make(env_id, **env_kwargs), **agent_kwargs)
    except (UsageError, DatagymError, ValueError, TypeError) as exc:
        _fail(str(exc))
        return
    baseline = [r for r in baseline if r.agent != agent]
    console.print(f"evaluating {agent} on {', '.join(envs)}, seeds 0-{seeds - 1}; runs in {out_dir}", soft_wrap=True)
    for env_id in envs:
        for seed in range(seeds):
            environment = gym.make(env_id, **env_kwargs)
            teacher = make_agent(agent, environment, **agent_kwargs)
            config = episode_config(environment, agent, agent_kwargs, seed)
            run_dir = out_dir / f"{env_id.split('/')[-1]}-seed{seed}"
            summary = run_episode(environment, teacher, seed=seed, out_dir=str(run_dir), config=config)
            console.print(f"  {env_id} seed {seed}: test macro accuracy {summary['test_macro_accuracy']:.4f}",
                          soft_wrap=True)
    mine_results = load_results(out_dir)
    boards = board(baseline + mine_results)
    for label in sorted({r.env for r in mine_results}):
        env_id = label
        rows = boards.get(label, [])
        mine = next((r for r in rows if r.agent == agent), None)
        if mine is None:
            continue
        t = "" if mine.t_vs_uniform is None else f", Welch t vs uniform {mine.t_vs_uniform:+.2f} (p {mine.p_vs_uniform:.3g})"
        console.print(
            Text.assemble((env_id, "bold"), f": rank {mine.rank} of {len(rows)}, test {mine.mean:.4f} "
                          f"[{mine.low:.4f}, {mine.high:.4f}]{t}"),
            soft_wrap=True,
        )
    table = overall(boards)
    place = next(i for i, (a, _, _) in enumerate(table, start=1) if a == agent)
    console.print(Text.assemble("overall: ", (f"rank {place} of {len(table)}", "bold")), soft_wrap=True)


@app.command()
def sweep(
    env: Optional[List[str]] = typer.Option(
        None, "--env", help="Env id; repeat for several (see `datagym list`).", show_default=DEFAULT_ENV_ID
    ),
    agent: Optional[List[str]] = typer.Option(
        None, "--agent", help="Agent name or package.module:Class; repeat for several; 'all': every registered "
        "agent. Each env gets the agents written for its level.",
        show_default="each env level's default",
    ),
    seeds: Optional[str] = typer.Option(None, "--seeds", help="Seeds: '0-4', '0,3,7' or '0-2,9'.", show_default="0"),
    agent_options: Optional[str] = typer.Option(
        None, "--agent-options", help='Agent options as JSON: one object for every agent, or one per agent name '
        '(\'{"exp3s": {"gamma": 0.2}}\').',
    ),
    env_options: Optional[str] = typer.Option(
        None, "--env-options", help="Env options as a JSON object, or a list of objects: each set is a grid axis "
        '(e.g. \'[{"step_budget": 192}, {"step_budget": 384}]\'); {"student_resources": {"num_gpus": 1}} puts '
        "students in Ray actors.",
    ),
    total_budget: Optional[int] = typer.Option(None, "--total-budget", help="Examples per episode (every option set)."),
    step_budget: Optional[int] = typer.Option(None, "--step-budget", help="Examples per step (every option set)."),
    student_options: Optional[str] = typer.Option(None, "--student-options", help="Student options as a JSON object."),
    task_options: Optional[str] = typer.Option(None, "--task-options", help="Task options as a JSON object."),
    out: Optional[Path] = typer.Option(None, "--out", help="Sweep directory: sweep.json and one run directory "
                                       "per trial; the same command again resumes it.", show_default="sweeps/<time>"),
    address: Optional[str] = typer.Option(
        None, "--address", help="Ray cluster address (e.g. ray://head:10001 or auto).", show_default="a local Ray instance"
    ),
    workers: Optional[int] = typer.Option(
        None, "--workers", min=1, help="CPUs of the local Ray instance (trials at once).", show_default="all cores"
    ),
    max_retries: int = typer.Option(2, "--max-retries", min=0, help="Retries of a failed trial; each resumes from its checkpoint."),
    trial_cpus: Optional[float] = typer.Option(
        None, "--trial-cpus", min=0, help="CPUs a trial task asks Ray for.", show_default="1; 0 with student_resources"
    ),
    resume: Optional[Path] = typer.Option(
        None, "--resume", help="Go on with the sweep in this directory: skip finished trials, resume the others; "
        "takes no grid flags.",
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also show datagym's log lines and the workers' output."),
) -> None:
    """Run a grid of envs x agents x seeds (x env option sets) in parallel on Ray, one run directory per trial."""
    from datagym.sweep import SweepDirectory, SweepGrid, parse_seeds, validate

    with _logging_to_console(verbose):
        try:
            if resume is not None:
                given = [flag for flag, value in (
                    ("--env", env), ("--agent", agent), ("--seeds", seeds), ("--agent-options", agent_options),
                    ("--env-options", env_options), ("--total-budget", total_budget), ("--step-budget", step_budget),
                    ("--student-options", student_options), ("--task-options", task_options), ("--out", out),
                ) if value]
                if given:
                    raise UsageError(f"--resume takes the grid from its sweep.json; expected no grid flags, "
                                     f"got {', '.join(given)}.")
                if not resume.is_dir():
                    raise UsageError(f"--resume: expected a sweep directory, got {str(resume)!r}, which is not a directory.")
                out_dir, grid = resume, SweepDirectory(resume).grid()
            else:
                option_sets = _sweep_option_sets(env_options)
                flags = _env_options(None, total_budget, step_budget, student_options, task_options)
                grid = SweepGrid(
                    envs=list(env or [DEFAULT_ENV_ID]), agents=list(agent or []),
                    seeds=parse_seeds(seeds if seeds is not None else "0"),
                    env_options=[{**options, **flags} for options in option_sets],
                    agent_options=_json_option("--agent-options", agent_options),
                )
                out_dir = out or Path("sweeps") / f"sweep-{time.strftime('%Y%m%d-%H%M%S')}"
            if address is not None and workers is not None:
                raise UsageError("--workers sizes a local Ray instance; expected no --workers with --address.")
            SweepDirectory(out_dir).check_can_hold(grid)
            planned = validate(grid)  # builds every env and agent: bad input fails before anything is written
        except (UsageError, DatagymError, ValueError, TypeError) as exc:
            _fail(str(exc))
            return
        _sweep(grid, out_dir, planned, address, workers, max_retries, trial_cpus, verbose)


def _sweep_option_sets(text: Optional[str]) -> list[dict]:
    if text is None:
        return [{}]
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--env-options: expected a JSON object or a list of objects, got {text!r} ({exc.msg}).") from None
    sets = value if isinstance(value, list) else [value]
    if not sets or not all(isinstance(v, dict) for v in sets):
        raise UsageError(f"--env-options: expected a JSON object or a non-empty list of objects, got {text!r}.")
    return sets


def _sweep(grid: Any, out_dir: Path, planned: dict, address: Optional[str], workers: Optional[int],
           max_retries: int, trial_cpus: Optional[float], verbose: bool) -> None:
    """Start or join Ray, run the sweep with a progress bar and a line per finished trial."""
    import ray

    from datagym.sweep import SweepDirectory, run_sweep

    directory = SweepDirectory(out_dir)
    left = sum(1 for t in grid.trials() if directory.finished(t) is None)
    started = bool(left) and not ray.is_initialized()  # all finished: nothing to start Ray for
    if started:
        try:
            ray.init(address=address, num_cpus=workers, include_dashboard=False, log_to_driver=verbose,
                     logging_level=logging.INFO if verbose else logging.WARNING)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            _fail(f"--address: expected a reachable Ray cluster, got {address!r} ({exc})." if address is not None
                  else f"could not start a local Ray instance ({exc}).")
            return
    total = sum(planned.values())
    where = f"on Ray ({int(ray.cluster_resources().get('CPU', 0))} CPUs)" if left else "all finished before"
    console.print(
        Text.assemble(f"sweep of {len(planned)} trials ({total} steps at most), {left} to run, {where}; "
                      f"sweep directory: ", (str(out_dir), "cyan")),
        soft_wrap=True,
    )
    progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
                        TimeElapsedColumn(), console=console, transient=True)
    task_id = progress.add_task("starting", total=total)

    def on_update(statuses: dict, events: list) -> None:
        for kind, s in events:
            name = Text(s.trial.name, style="bold")
            if kind == "skipped":
                progress.console.print(Text.assemble("  skipped ", name, " (finished before)"), soft_wrap=True)
            elif kind == "done":
                retried = (f", attempt {s.attempts}, resumed from step {s.resumed_from[-1]}"
                           if s.attempts > 1 and s.resumed_from else "")
                progress.console.print(Text.assemble(
                    ("  done    ", "green"), name,
                    f"  test macro accuracy {s.summary['test_macro_accuracy']:.4f}, {s.summary['steps']} steps{retried}"),
                    soft_wrap=True)
            elif kind == "failed":
                progress.console.print(Text.assemble(("  failed  ", "bold red"), name,
                                                     f" after {s.attempts} attempt(s): {s.error}"), soft_wrap=True)
        states = [s.state for s in statuses.values()]
        retried = sum(1 for s in statuses.values() if s.attempts > 1)
        description = (f"{states.count('done') + states.count('skipped')} done, {states.count('running')} running, "
                       f"{states.count('failed')} failed, {states.count('pending')} waiting"
                       + (f", {retried} retried" if retried else ""))
        steps = sum(min(s.steps, s.planned_steps) if s.planned_steps else s.steps for s in statuses.values())
        progress.update(task_id, description=description, completed=steps)

    try:
        with progress:
            result = run_sweep(grid, out_dir, max_retries=max_retries, trial_cpus=trial_cpus, on_update=on_update,
                               planned=planned)
    except KeyboardInterrupt:
        errors.print(f"interrupted; finished trials are kept and unfinished ones resume from their last step with: "
                     f"datagym sweep --resume {shlex.quote(str(out_dir))}", soft_wrap=True)
        raise typer.Exit(code=130) from None
    except DatagymError as exc:
        _fail(str(exc))
        return
    finally:
        if started:
            ray.shutdown()
    done, skipped, failed = result.count("done"), result.count("skipped"), result.failed
    console.print(f"{done} trials run, {skipped} skipped (finished before), {len(failed)} failed; "
                  f"run directories in {out_dir}", soft_wrap=True)
    if failed:
        errors.print(Text("error: ", style="bold red") + Text(
            f"{len(failed)} trial(s) failed after their retries ({', '.join(s.trial.name for s in failed)}); their "
            f"finished steps are kept; go on with: datagym sweep --resume {shlex.quote(str(out_dir))}"), soft_wrap=True)
        raise typer.Exit(code=1)
    console.print(f"rank them:     datagym leaderboard {shlex.quote(str(out_dir))}", soft_wrap=True)


def main() -> None:
    app(prog_name="datagym")


if __name__ == "__main__":
    main()
