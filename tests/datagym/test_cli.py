"""The datagym command: run, list, plot, and clear one-line errors that leave nothing behind."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import datagym
from datagym.agents.registry import AGENTS
from datagym.cli import _env_options, app
from datagym.registration import env_ids

FAST = [
    "--total-budget", "64", "--step-budget", "32",
    "--student-options", '{"n_layer": 1, "n_embd": 32, "n_head": 2, "epochs": 1}',
]
PNG = b"\x89PNG\r\n\x1a\n"
runner = CliRunner()


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "r"
    result = runner.invoke(app, ["run", "--agent", "uniform", "--seed", "3", "--out", str(out), *FAST])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_run_writes_a_complete_run_directory(run_dir):
    out, output = run_dir
    assert {p.name for p in out.iterdir()} == {"config.json", "steps.jsonl", "summary.json", "data"}
    config = json.loads((out / "config.json").read_text())
    assert config["agent"] == "uniform" and config["seed"] == 3
    assert config["env_id"] == datagym.DEFAULT_ENV_ID
    assert config["env_options"]["total_budget"] == 64
    assert config["env_options"]["student_options"]["n_embd"] == 32
    steps = (out / "steps.jsonl").read_text().splitlines()
    summary = json.loads((out / "summary.json").read_text())
    assert len(steps) == summary["steps"] == 2
    assert sorted(p.name for p in (out / "data").iterdir()) == ["step_0001.jsonl", "step_0002.jsonl"]
    assert f"final test macro accuracy {summary['test_macro_accuracy']:.4f}" in output
    assert f"run directory: {out}" in output and f"datagym plot {out}" in output


def test_run_prints_a_row_per_step_with_its_numbers(run_dir):
    out, output = run_dir
    assert re.search(r"step\s+reward\s+macro val acc\s+accepted\s+rejected\s+train s\s+eval s", output)
    for line in (out / "steps.jsonl").read_text().splitlines():
        record = json.loads(line)
        rejected = sum(record["teacher/rejected"].values())
        reward = re.escape(f"{record['reward']:+.4f}")
        row = (
            rf"^\s*{record['step']}\s+{reward}\s+"
            rf"{record['student/macro_accuracy']:.4f}\s+{record['teacher/accepted']}\s+{rejected}\s+\d+\.\d\d\s+\d+\.\d\d$"
        )
        assert re.search(row, output, re.MULTILINE), (row, output)


def test_run_refuses_an_existing_run_directory_and_keeps_it(run_dir):
    out, _ = run_dir
    before = (out / "summary.json").read_text()
    result = runner.invoke(app, ["run", "--agent", "uniform", "--out", str(out), *FAST])
    assert result.exit_code == 2
    assert "already holds files" in flat(result.stderr) and "--overwrite" in result.stderr
    assert (out / "summary.json").read_text() == before


def test_overwrite_replaces_the_run(run_dir, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(run_dir[0], out)
    result = runner.invoke(app, ["run", "--agent", "no_teaching", "--out", str(out), "--overwrite", *FAST])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["agent"] == "no_teaching"
    summary = json.loads((out / "summary.json").read_text())
    # no_teaching spends nothing, so the episode runs to the registered step limit.
    assert len((out / "steps.jsonl").read_text().splitlines()) == summary["steps"] == 20
    assert summary["examples_generated"] == 0


def test_run_without_out_names_the_directory_after_env_agent_and_seed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["run", "--agent", "uniform", "--seed", "1", *FAST])
    assert result.exit_code == 0, result.output
    (made,) = (tmp_path / "runs").iterdir()
    assert made.name.startswith("Arithmetic-SkillList-v1-uniform-seed1-")
    assert (made / "summary.json").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--agent", "nope"], r"Unknown agent 'nope'; expected one of \[.*'uniform'.*\] or 'package.module:Class'"),
        (["--agent", "nowhere.at_all:Teacher"], r"Cannot import module 'nowhere.at_all'"),
        (["--env", "datagym/Nope-v0"], r"--env: unknown env 'datagym/Nope-v0'; expected one of: datagym/Arithmetic-SkillList-v1"),
        (["--env", "CartPole-v1"], r"--env: expected a datagym env .*, got 'CartPole-v1'"),
        (["--student-options", "{bad"], r"--student-options: expected a JSON object, got '\{bad'"),
        (["--student-options", "[1]"], r"--student-options: expected a JSON object like"),
        (["--agent-options", "nope"], r"--agent-options: expected a JSON object, got 'nope'"),
        (["--env-options", '{"nope": 1}'], r"Unknown env option\(s\) \['nope'\]; expected some of"),
        (["--student-options", '{"nope": 1}'], r"Unknown student option\(s\) \['nope'\]"),
        (["--total-budget", "0"], r"Expected total_budget to be a positive integer, got 0"),
        (["--total-budget", "64", "--step-budget", "128"], r"step_budget \(128\) exceeds total_budget \(64\)"),
        (["--agent-options", '{"k": 99}', "--agent", "weakest_skill"], r"Expected k in \[1, 15\], got 99"),
        (["--agent-options", '{"bogus": 1}', "--agent", "uniform"], r"Unknown option\(s\) \['bogus'\] for agent 'uniform'"),
    ],
)
def test_bad_input_is_one_clear_line_exit_2_and_no_run_directory(tmp_path, args, message):
    out = tmp_path / "never"
    result = runner.invoke(app, ["run", "--out", str(out), *args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert re.search(message, lines[0]), lines[0]
    assert result.stdout == ""
    assert not out.exists()


def test_out_that_is_a_file_is_refused(tmp_path):
    out = tmp_path / "file"
    out.write_text("mine")
    result = runner.invoke(app, ["run", "--out", str(out), *FAST])
    assert result.exit_code == 2
    assert "which is a file" in result.stderr
    assert out.read_text() == "mine"


def test_flags_win_over_env_options_and_are_merged_with_them():
    options = _env_options('{"total_budget": 999, "timings": false}', 64, None, '{"epochs": 1}', None)
    assert options == {"total_budget": 64, "timings": False, "student_options": {"epochs": 1}}
    assert _env_options(None, None, None, None, None) == {}


def test_interrupt_says_where_the_finished_steps_are(tmp_path, monkeypatch):
    import datagym.runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(datagym.runner, "run_episode", interrupted)
    result = runner.invoke(app, ["run", "--out", str(tmp_path / "r"), *FAST])
    assert result.exit_code == 130
    assert "interrupted after 0 finished step(s), recorded in" in result.stderr and "Traceback" not in result.output


USER_AGENTS = '''
import numpy as np
from datagym.agents import SkillListAgent

class AllOnes(SkillListAgent):
    """Every skill the same weight."""
    def act(self, observation, info):
        return self.weights(np.ones(self.n_skills))

class WrongShape(SkillListAgent):
    def act(self, observation, info):
        return np.ones(3)
'''


@pytest.fixture
def user_agents(tmp_path, monkeypatch):
    (tmp_path / "my_teachers_for_cli_test.py").write_text(USER_AGENTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_teachers_for_cli_test"
    sys.modules.pop("my_teachers_for_cli_test", None)


def test_a_users_own_agent_runs_by_module_and_class(tmp_path, user_agents):
    out = tmp_path / "r"
    result = runner.invoke(app, ["run", "--agent", f"{user_agents}:AllOnes", "--out", str(out), *FAST])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["agent"] == f"{user_agents}:AllOnes"
    assert json.loads((out / "summary.json").read_text())["steps"] == 2


def test_a_failing_step_is_one_line_exit_1_and_keeps_what_was_written(tmp_path, user_agents):
    out = tmp_path / "r"
    result = runner.invoke(app, ["run", "--agent", f"{user_agents}:WrongShape", "--out", str(out), *FAST])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "step 1 failed: Expected action of shape (15,), got (3,)" in lines[0], lines
    assert "--verbose" in lines[0] and "Traceback" not in result.output
    assert (out / "config.json").exists() and not (out / "summary.json").exists()


def test_run_leaves_logging_as_it_found_it():
    import logging

    root = logging.getLogger()
    before = (list(root.handlers), root.level, logging.getLogger("datagym").level)
    assert runner.invoke(app, ["run", "--agent", "nope"]).exit_code == 2
    assert (list(root.handlers), root.level, logging.getLogger("datagym").level) == before


def test_list_shows_every_env_and_agent():
    from datagym.agents.registry import DEFAULT_AGENTS, agent_class

    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    for env_id in env_ids():
        assert any(line.startswith(env_id + " ") for line in lines), env_id
    for level, default in DEFAULT_AGENTS.items():
        assert f"agents for {level} envs (default: {default})" in lines
    for name in AGENTS:
        rows = [line for line in lines if line.split() and line.split()[0] == name]
        assert len(rows) == len(agent_class(name).levels), name  # a row per level it serves
    # a docstring's first line, from no_teaching, on its row
    assert any(line.startswith("no_teaching") and "Generates nothing: the student stays untrained" in line
               for line in lines)


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"datagym {datagym.__version__}"


def test_plot_writes_the_three_pngs(run_dir, tmp_path):
    out, _ = run_dir
    result = runner.invoke(app, ["plot", str(out), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for name in ("accuracy_heatmap.png", "reward.png", "data.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == PNG and len(data) > 5000
        assert f"wrote {tmp_path / name}" in result.output


def test_plot_writes_into_the_run_directory_by_default(run_dir, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run_dir[0], copy)
    assert runner.invoke(app, ["plot", str(copy)]).exit_code == 0
    assert (copy / "accuracy_heatmap.png").read_bytes()[:8] == PNG
    assert (copy / "reward.png").read_bytes()[:8] == PNG


def test_plot_of_an_unfinished_run_notes_what_is_missing(run_dir, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run_dir[0], copy)
    (copy / "summary.json").unlink()
    result = runner.invoke(app, ["plot", str(copy)])
    assert result.exit_code == 0, result.output
    assert "did not finish" in flat(result.stderr)
    assert (copy / "accuracy_heatmap.png").exists() and (copy / "reward.png").exists()


def test_plot_of_a_missing_directory_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["plot", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert "expected a run directory" in result.stderr and "does not exist" in result.stderr


def test_plot_of_a_directory_that_is_not_a_run(tmp_path):
    result = runner.invoke(app, ["plot", str(tmp_path)])
    assert result.exit_code == 2
    assert "config.json" in result.stderr and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_plot_of_a_run_with_no_finished_step(run_dir, tmp_path):
    copy = tmp_path / "run"
    copy.mkdir()
    shutil.copy(run_dir[0] / "config.json", copy)
    result = runner.invoke(app, ["plot", str(copy)])
    assert result.exit_code == 2
    assert "expected at least one finished step" in result.stderr


def test_plot_of_a_run_with_a_broken_json_file(run_dir, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run_dir[0], copy)
    (copy / "config.json").write_text("{not json")
    result = runner.invoke(app, ["plot", str(copy)])
    assert result.exit_code == 2
    assert "one does not parse" in flat(result.stderr) and "Traceback" not in result.output


def test_python_dash_m_datagym_works_like_the_command():
    done = subprocess.run([sys.executable, "-m", "datagym", "list"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for name in AGENTS:
        assert name in done.stdout
