"""The ``datagym`` command: run an episode, list envs and agents, plot a run directory.

    datagym run                      # the default env and agent, seed 0, into runs/...
    datagym run --agent uniform --seed 3 --total-budget 1920 --out runs/u3
    datagym list
    datagym plot runs/u3

Only this module prints; the library logs through ``logging``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import gymnasium as gym

import datagym
from datagym.errors import DatagymError
from datagym.registration import DEFAULT_ENV_ID, ENVS

app = typer.Typer(
    help="datagym: a Gymnasium-style gym for data-generation (teacher) agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
errors = Console(stderr=True)


class UsageError(Exception):
    """Bad input from the command line: printed as one line, exit code 2."""


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


def _fail(message: str) -> None:
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


def _default_out(env_id: str, agent: str, seed: int) -> Path:
    short = env_id.split("/")[-1]
    name = agent.split(":")[-1]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{short}-{name}-seed{seed}-{stamp}"


def _step_table() -> Table:
    table = Table(title="steps", title_justify="left", header_style="bold")
    for column in ("step", "reward", "macro val acc", "accepted", "rejected", "train s", "eval s", "step s"):
        table.add_column(column, justify="right")
    return table


@app.command()
def run(
    env: str = typer.Option(DEFAULT_ENV_ID, "--env", help="env id (see `datagym list`)"),
    agent: Optional[str] = typer.Option(None, "--agent", help="agent name or package.module:Class [default: proximal_skill]"),
    agent_options: Optional[str] = typer.Option(None, "--agent-options", help="agent options as JSON"),
    seed: int = typer.Option(0, "--seed", help="episode seed (same seed, same trajectory)"),
    out: Optional[Path] = typer.Option(None, "--out", help="run directory [default: runs/<env>-<agent>-seed<N>-<time>]"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing run directory"),
    total_budget: Optional[int] = typer.Option(None, "--total-budget", help="examples per episode"),
    step_budget: Optional[int] = typer.Option(None, "--step-budget", help="examples per step"),
    student_options: Optional[str] = typer.Option(None, "--student-options", help='student options as JSON, e.g. \'{"epochs": 4}\''),
    task_options: Optional[str] = typer.Option(None, "--task-options", help="task options as JSON"),
    env_options: Optional[str] = typer.Option(None, "--env-options", help="any other env options as JSON"),
) -> None:
    """Run one episode of a teacher and record it in a run directory."""
    from datagym.agents import make_agent
    from datagym.agents.registry import DEFAULT_AGENT
    from datagym.runner import episode_config, run_episode

    agent_name = agent or DEFAULT_AGENT
    try:
        options = _json_option("--env-options", env_options)
        for key, value in (
            ("total_budget", total_budget),
            ("step_budget", step_budget),
            ("student_options", _json_option("--student-options", student_options) or None),
            ("task_options", _json_option("--task-options", task_options) or None),
        ):
            if value is not None:
                options[key] = value
        agent_kwargs = _json_option("--agent-options", agent_options)
        if env not in gym.registry:
            known = ", ".join(entry.id for entry in ENVS)
            raise UsageError(f"--env: unknown env {env!r}; expected one of: {known}.")
        # Build everything before the run directory exists: bad input leaves nothing behind.
        environment = gym.make(env, **options)
        teacher = make_agent(agent_name, environment, **agent_kwargs)
    except (UsageError, DatagymError, ValueError, TypeError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        _fail(str(message))
        return

    out_dir = out or _default_out(env, agent_name, seed)
    config = episode_config(environment, agent_name, agent_kwargs, seed)
    unwrapped = environment.unwrapped
    budget = unwrapped.config.total_budget
    console.print(
        f"[bold]{env}[/]  agent [bold]{agent_name}[/]  seed {seed}  "
        f"budget {budget} ({unwrapped.config.step_budget}/step)  -> {out_dir}",
        highlight=False,
    )
    table = _step_table()
    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("examples"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    task_id = progress.add_task("teaching", total=budget)

    def on_step(record: dict[str, Any]) -> None:
        rejected = sum(record.get("teacher/rejected", {}).values())
        table.add_row(
            str(record["step"]),
            f"{record['reward']:+.4f}",
            f"{record['student/macro_accuracy']:.4f}",
            str(record.get("teacher/accepted", 0)),
            str(rejected),
            f"{record.get('time/train', 0.0):.2f}",
            f"{record.get('time/evaluate', 0.0):.2f}",
            f"{record.get('time/step', 0.0):.2f}",
        )
        progress.console.print(
            f"step {record['step']:>3}  reward {record['reward']:+.4f}  "
            f"macro val acc {record['student/macro_accuracy']:.4f}  "
            f"accepted {record.get('teacher/accepted', 0)}  rejected {rejected}  "
            f"train {record.get('time/train', 0.0):.2f}s  eval {record.get('time/evaluate', 0.0):.2f}s",
            highlight=False,
        )
        progress.update(task_id, completed=budget - int(record.get("teacher/budget_left", 0)))

    try:
        with progress:
            summary = run_episode(
                environment, teacher, seed=seed, out_dir=str(out_dir), config=config, overwrite=overwrite, on_step=on_step
            )
    except DatagymError as exc:
        _fail(str(exc))
        return
    console.print(table)
    console.print(
        f"final test macro accuracy [bold]{summary['test_macro_accuracy']:.4f}[/]  "
        f"(validation {summary['final_validation_macro_accuracy']:.4f}, "
        f"{summary['steps']} steps, {summary['seconds']['total']:.1f}s)",
        highlight=False,
    )
    console.print(f"run directory: {out_dir}   plot it: datagym plot {out_dir}", highlight=False)


@app.command("list")
def list_() -> None:
    """Show the registered envs and agents."""
    from datagym.agents.registry import AGENTS, DEFAULT_AGENT, agent_class

    envs = Table(title="envs", title_justify="left", header_style="bold")
    envs.add_column("id")
    envs.add_column("max steps", justify="right")
    envs.add_column("description")
    for entry in ENVS:
        default = " (default)" if entry.id == DEFAULT_ENV_ID else ""
        envs.add_row(entry.id + default, str(entry.max_episode_steps), entry.description)
    console.print(envs)

    agents = Table(title="agents", title_justify="left", header_style="bold")
    agents.add_column("name")
    agents.add_column("class")
    agents.add_column("what it does")
    for name, path in AGENTS.items():
        cls = agent_class(name)
        doc = (cls.__doc__ or "").strip().splitlines()
        module_doc = (__import__(cls.__module__, fromlist=["_"]).__doc__ or "").strip().splitlines()
        line = doc[0] if doc else (module_doc[0] if module_doc else "")
        default = " (default)" if name == DEFAULT_AGENT else ""
        agents.add_row(name + default, path, line)
    console.print(agents)
    console.print("Your own agent: --agent package.module:Class (a datagym.agents.Agent subclass).")


@app.command()
def plot(
    run_dir: Path = typer.Argument(..., help="a run directory written by `datagym run`"),
    out: Optional[Path] = typer.Option(None, "--out", help="where to write the PNGs [default: RUN_DIR]"),
) -> None:
    """Write accuracy_heatmap.png (per-skill accuracy over steps) and reward.png for a run."""
    from datagym.plotting import plot_accuracy_heatmap, plot_rewards
    from datagym.run_dir import RunDirectory

    directory = RunDirectory(run_dir)
    try:
        if not run_dir.is_dir():
            raise UsageError(f"RUN_DIR: expected a run directory, got {str(run_dir)!r}, which does not exist.")
        config = directory.config()
        steps = directory.steps() if directory.steps_path.exists() else []
    except (UsageError, DatagymError) as exc:
        _fail(str(exc))
        return
    if not steps:
        _fail(f"RUN_DIR: expected at least one finished step in {str(directory.steps_path)!r}, found none.")
        return
    summary = directory.summary() or {}
    skills = config.get("skills") or sorted(steps[0].get("student/accuracy", {}))
    curve = summary.get("validation_curve") or [s["student/macro_accuracy"] for s in steps]
    target = out or run_dir
    target.mkdir(parents=True, exist_ok=True)
    title = f"{config.get('env_id', '')}  {config.get('agent', '')}  seed {config.get('seed', '')}"
    heatmap = plot_accuracy_heatmap(
        steps, skills, target / "accuracy_heatmap.png", initial=summary.get("initial_accuracy"), title=title
    )
    rewards = plot_rewards(steps, curve, target / "reward.png", title=title)
    console.print(f"wrote {heatmap}\nwrote {rewards}", highlight=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
