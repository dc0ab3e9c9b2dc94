"""A user's own task, env and agent at the command line: --import, the current directory on the
path, run directories and headers that name the real task, one-line failures."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest
from typer.testing import CliRunner

from datagym.cli import app

HERE = Path(__file__).parent / "user_modules"
USER_ENV = "tiny/Reverse-SkillList-v0"
FAST_STUDENT = '{"n_layer": 1, "n_embd": 32, "n_head": 2, "epochs": 1}'
FAST = ["--total-budget", "64", "--step-budget", "32", "--student-options", FAST_STUDENT]
runner = CliRunner()


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    """A directory holding the user's modules, made the current one; nothing of it leaks out."""
    for name in ("tinytask.py", "badagent.py"):
        shutil.copy(HERE / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    saved_path = list(sys.path)
    yield tmp_path
    sys.path[:] = saved_path
    for name in ("tinytask", "badagent"):
        sys.modules.pop(name, None)
    gym.registry.pop(USER_ENV, None)


def test_an_unimported_user_env_is_unknown_and_the_error_says_how_to_import_it(user_dir):
    result = runner.invoke(app, ["run", "--env", USER_ENV, *FAST])
    assert result.exit_code == 2
    assert "unknown env 'tiny/Reverse-SkillList-v0'" in flat(result.output)
    assert "--import the module that registers it" in flat(result.output)
    assert not (user_dir / "runs").exists()


def test_a_module_that_does_not_import_is_one_line(user_dir):
    result = runner.invoke(app, ["run", "--import", "no_such_module_here", *FAST])
    assert result.exit_code == 2
    assert "--import: cannot import module 'no_such_module_here'" in flat(result.output)


def test_run_imports_the_users_module_and_names_its_env(user_dir):
    result = runner.invoke(app, ["run", "--import", "tinytask", "--env", USER_ENV, "--out", "r", *FAST])
    assert result.exit_code == 0, result.output
    assert flat(result.output).startswith(f"{USER_ENV} agent triage seed 0")
    config = json.loads((user_dir / "r" / "config.json").read_text())
    assert config["env_id"] == config["env_name"] == USER_ENV
    assert config["imports"] == [{"module": "tinytask", "path": str(user_dir.resolve())}]
    assert config["level"] == "skill_list" and config["skills"] == ["rev2", "rev3"]
    assert config["task"] == {"name": "reverse", "version": 0}

    # The leaderboard and plot read it; --resume rebuilds it from config.json alone.
    board = runner.invoke(app, ["leaderboard", str(user_dir / "r"), "--out", str(user_dir / "board")])
    assert board.exit_code == 0, board.output
    assert f"## {USER_ENV}" in (user_dir / "board" / "leaderboard.md").read_text()
    plot = runner.invoke(app, ["plot", str(user_dir / "r")])
    assert plot.exit_code == 0, plot.output


def test_resume_of_a_user_env_imports_its_module_again(user_dir):
    from datagym.runner import load_resumable

    result = runner.invoke(app, ["run", "--import", "tinytask", "--env", USER_ENV, "--out", "r", *FAST])
    assert result.exit_code == 0, result.output
    # Make the run unfinished after step 1 (as a kill would), then forget the module.
    run = user_dir / "r"
    (run / "summary.json").unlink()
    lines = (run / "steps.jsonl").read_text().splitlines()
    (run / "steps.jsonl").write_text(lines[0] + "\n")
    sys.modules.pop("tinytask", None)
    gym.registry.pop(USER_ENV, None)
    resumable = load_resumable(run)  # no checkpoint: rebuilt from config.json, module re-imported
    assert resumable.env.spec.id == USER_ENV and USER_ENV in gym.registry


def test_a_task_swapped_in_by_options_names_the_run_header_and_directory(user_dir):
    result = runner.invoke(app, ["run", "--agent", "uniform", "--task-options", "{}",
                                 "--env-options", '{"task": "tinytask:ReverseTask"}', *FAST])
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    assert out.startswith("datagym/Arithmetic-SkillList-v1 with task tinytask:ReverseTask agent uniform")
    (run,) = (user_dir / "runs").iterdir()
    assert run.name.startswith("ReverseTask-SkillList-v1-uniform-seed0-")
    config = json.loads((run / "config.json").read_text())
    assert config["env_name"] == "datagym/Arithmetic-SkillList-v1 with task tinytask:ReverseTask"
    assert config["task"]["name"] == "reverse" and config["skills"] == ["rev2", "rev3"]
    board = runner.invoke(app, ["leaderboard", str(user_dir / "runs")])
    assert board.exit_code == 0, board.output
    assert '## datagym/Arithmetic-SkillList-v1 {"step_budget"' in (user_dir / "runs" / "leaderboard.md").read_text()
    assert '"task":"tinytask:ReverseTask"' in (user_dir / "runs" / "leaderboard.md").read_text()


def test_an_exception_in_a_users_agent_is_one_line_and_exit_code_1(user_dir):
    result = runner.invoke(app, ["run", "--agent", "badagent:Boom", "--out", "bad", *FAST])
    assert result.exit_code == 1
    assert "error: step 1 failed: ZeroDivisionError: division by zero (badagent.py:7)" in flat(result.output)
    assert "Traceback" not in result.output
    assert (user_dir / "bad" / "config.json").exists()
    verbose = runner.invoke(app, ["run", "--agent", "badagent:Boom", "--out", "bad2", "--verbose", *FAST])
    assert verbose.exit_code == 1 and isinstance(verbose.exception, ZeroDivisionError)


def test_evaluate_on_a_users_env_runs_the_baselines_and_ranks_against_them(user_dir):
    options = json.dumps({"total_budget": 64, "step_budget": 32, "student_options": json.loads(FAST_STUDENT)})
    result = runner.invoke(app, ["evaluate", "--import", "tinytask", "--agent", "uniform", "--env", USER_ENV,
                                 "--seeds", "2", "--env-options", options, "--out", "ev"])
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    assert "protocol: seeds 0-1, env options" in out and "not the leaderboard's" in out
    assert "also running the skill_list baselines no_teaching, random with the same protocol" in out
    assert "rank " in out and " of 3" in out
    # the tiny student learns nothing in 2 steps: uniform ties no_teaching, the 0-to-1 scale is undefined
    assert "overall: no score" in out and "uniform no better than no_teaching" in out
    assert len(list((user_dir / "ev" / "baselines").iterdir())) == 4


def test_the_datagym_script_imports_from_the_current_directory_and_prints_no_warnings(user_dir):
    script = shutil.which("datagym", path=os.path.dirname(sys.executable)) or shutil.which("datagym")
    assert script is not None, "the datagym console script is not installed next to this Python"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([script, "run", "--import", "tinytask", "--env", USER_ENV, "--out", "s", *FAST],
                          capture_output=True, text=True, timeout=300, cwd=user_dir, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == "", done.stderr  # no library warning reaches the terminal
    assert "final test macro accuracy" in done.stdout


def test_datagym_run_on_the_default_env_prints_no_library_warning(tmp_path):
    done = subprocess.run([sys.executable, "-m", "datagym", "run", "--out", str(tmp_path / "d"), *FAST],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == "", done.stderr
    assert "Warning" not in done.stdout


def test_list_shows_the_users_envs_and_fits_80_columns(user_dir):
    done = subprocess.run([sys.executable, "-m", "datagym", "list", "--import", "tinytask"],
                          capture_output=True, text=True, timeout=120, cwd=user_dir,
                          env={**os.environ, "COLUMNS": "80"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    rows = [line for line in lines if line.startswith(("datagym/", "tiny/"))]
    assert [r.split()[0] for r in rows] == [
        "datagym/Arithmetic-SkillList-v1", "datagym/Arithmetic-OpenEnded-v1", "datagym/Arithmetic-SkillTree-v1",
        "datagym/Arithmetic-SkillList-v0", "datagym/Arithmetic-OpenEnded-v0", "datagym/Arithmetic-SkillTree-v0",
        "datagym/Code-SkillList-v0", "datagym/Code-OpenEnded-v0", "datagym/Code-SkillTree-v0",
        "datagym/ReasoningGym-SkillList-v0", "datagym/ReasoningGym-OpenEnded-v0", "datagym/ReasoningGym-SkillTree-v0",
        "datagym/HumanEval-SkillList-v0", "datagym/HumanEval-OpenEnded-v0",
        "datagym/MATH-SkillList-v0", "datagym/MATH-OpenEnded-v0", "datagym/GSM8K-SkillList-v0", "datagym/GSM8K-OpenEnded-v0",
        USER_ENV,
    ]
    assert all("v0 (kept for old runs)" in r for r in rows if r.startswith("datagym/Arithmetic") and r.split()[0].endswith("-v0"))
    assert rows[-1].split()[1:3] == ["skill_list", "20"]
    from datagym.agents.registry import AGENTS, agent_class

    # One line per agent per level it serves: a row never wraps onto a second line.
    names = [line.split()[0] for line in lines if line.split() and line.split()[0] in AGENTS]
    assert sorted(names) == sorted(n for n in AGENTS for _ in agent_class(n).levels)


def test_unknown_task_options_get_the_expected_some_of_message():
    from datagym.errors import ConfigError

    with pytest.raises(ConfigError, match=r"Unknown task option\(s\) \['heldout'\] for task 'arithmetic'; "
                                          r"expected some of \['heldout_size'\]"):
        gym.make("datagym/Arithmetic-SkillList-v1", task_options={"heldout": 3})
    result = runner.invoke(app, ["run", "--task-options", '{"heldout": 3}', *FAST])
    assert result.exit_code == 2
    assert "expected some of ['heldout_size']" in result.output and "TypeError" not in result.output


def test_a_sweep_of_a_users_env_imports_its_module_in_every_ray_worker(user_dir):
    """Ray workers are fresh processes: the sweep hands them the recorded imports."""
    done = subprocess.run(
        [sys.executable, "-m", "datagym", "sweep", "--import", "tinytask", "--env", USER_ENV, "--agent", "uniform",
         "--seeds", "0-1", "--workers", "2", "--out", "sw", *FAST],
        capture_output=True, text=True, timeout=600, cwd=user_dir,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    runs = sorted(p.name for p in (user_dir / "sw").iterdir() if p.is_dir())
    assert runs == ["Reverse-SkillList-v0-uniform-seed0", "Reverse-SkillList-v0-uniform-seed1"]
    for name in runs:
        summary = json.loads((user_dir / "sw" / name / "summary.json").read_text())
        assert summary["env_id"] == USER_ENV and summary["imports"][0]["module"] == "tinytask"
    assert json.loads((user_dir / "sw" / "sweep.json").read_text())["grid"]["imports"][0]["module"] == "tinytask"


def test_the_readme_example_task_runs_through_run_and_evaluate_from_its_folder(tmp_path):
    """The issue's "done": the example task of README's "Writing a task", from its folder,
    through `datagym run --env` and `datagym evaluate`, nothing but the README's commands."""
    examples = Path(__file__).resolve().parents[2] / "examples"
    fast = ["--env-options", json.dumps({"total_budget": 64, "step_budget": 32, "task_options": {"heldout_size": 5},
                                         "student_options": json.loads(FAST_STUDENT)})]
    run = subprocess.run([sys.executable, "-m", "datagym", "run", "--import", "mytasks", "--env",
                          "mine/Strings-SkillList-v0", "--out", str(tmp_path / "r"), *fast],
                         capture_output=True, text=True, timeout=300, cwd=examples)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("mine/Strings-SkillList-v0  agent triage")
    evaluated = subprocess.run([sys.executable, "-m", "datagym", "evaluate", "--import", "mytasks", "--agent", "uniform",
                                "--env", "mine/Strings-SkillList-v0", "--seeds", "2", "--out", str(tmp_path / "e"),
                                *fast], capture_output=True, text=True, timeout=600, cwd=examples)
    assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr
    assert "overall: " in evaluated.stdout
