"""The datagym command: run, list, plot, and clear one-line errors that leave nothing behind."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from datagym.agents.registry import AGENTS
from datagym.cli import app
from datagym.registration import env_ids

FAST = [
    "--total-budget", "64", "--step-budget", "32",
    "--student-options", '{"n_layer": 1, "n_embd": 32, "n_head": 2, "epochs": 1}',
]
runner = CliRunner()


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
    assert config["env_options"]["total_budget"] == 64
    steps = (out / "steps.jsonl").read_text().splitlines()
    summary = json.loads((out / "summary.json").read_text())
    assert len(steps) == summary["steps"] == 2
    assert sorted(p.name for p in (out / "data").iterdir()) == ["step_0001.jsonl", "step_0002.jsonl"]
    assert "final test macro accuracy" in output and str(out) in output


def test_run_prints_a_row_per_step(run_dir):
    _, output = run_dir
    assert "step   1" in output and "step   2" in output


def test_run_refuses_an_existing_run_directory_and_keeps_it(run_dir):
    out, _ = run_dir
    before = (out / "summary.json").read_text()
    result = runner.invoke(app, ["run", "--agent", "uniform", "--out", str(out), *FAST])
    assert result.exit_code == 2
    assert "already holds files" in result.output
    assert (out / "summary.json").read_text() == before


@pytest.mark.parametrize(
    "args, message",
    [
        (["--agent", "nope"], r"Unknown agent 'nope'; expected one of"),
        (["--env", "datagym/Nope-v0"], r"--env: unknown env 'datagym/Nope-v0'; expected one of: datagym/Arithmetic-SkillList-v0"),
        (["--student-options", "{bad"], r"--student-options: expected a JSON object, got '\{bad'"),
        (["--student-options", "[1]"], r"--student-options: expected a JSON object like"),
        (["--student-options", '{"nope": 1}'], r"Unknown student option\(s\) \['nope'\]"),
        (["--agent-options", '{"k": 99}', "--agent", "weakest_skill"], r"Expected k in \[1, 15\], got 99"),
        (["--agent-options", '{"bogus": 1}', "--agent", "uniform"], r"Unknown option\(s\) \['bogus'\] for agent 'uniform'"),
    ],
)
def test_bad_input_is_one_clear_line_exit_2_and_no_run_directory(tmp_path, args, message):
    out = tmp_path / "never"
    result = runner.invoke(app, ["run", "--out", str(out), *args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    import re

    assert re.search(message, " ".join(result.output.split())), result.output
    assert not out.exists()


def test_list_shows_every_env_and_agent():
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0
    flat = result.output.replace("\n", " ")
    for env_id in env_ids():
        assert env_id in flat
    for name in AGENTS:
        assert name in flat


def test_plot_writes_both_pngs(run_dir, tmp_path):
    out, _ = run_dir
    result = runner.invoke(app, ["plot", str(out), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for name in ("accuracy_heatmap.png", "reward.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_plot_of_a_missing_directory_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["plot", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert "expected a run directory" in result.output


def test_plot_of_a_directory_that_is_not_a_run(tmp_path):
    result = runner.invoke(app, ["plot", str(tmp_path)])
    assert result.exit_code == 2
    assert "config.json" in result.output


def test_python_dash_m_datagym_works_like_the_command():
    done = subprocess.run([sys.executable, "-m", "datagym", "list"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "learning_progress" in done.stdout
