"""Sweeps on a real (local, 2-CPU) Ray instance: one complete run directory per trial, a re-run
skips finished trials, and a trial that raises or whose worker is killed is retried by Ray and
resumed from its checkpoint, ending exactly as an uninterrupted trial."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import pytest
from typer.testing import CliRunner

from datagym.agents import make_agent
from datagym.cli import app
from datagym.run_dir import RunDirectory
from datagym.runner import episode_config, run_episode
from datagym.sweep import (
    FailOnce,
    SweepDirectory,
    SweepError,
    SweepGrid,
    parse_seeds,
    run_sweep,
    trial_name,
    validate,
)

ENV_ID = "datagym/Arithmetic-SkillList-v1"
FAST_STUDENT = {"n_layer": 1, "n_embd": 32, "n_head": 2, "epochs": 1, "batch_size": 16}
OPTIONS = {"total_budget": 96, "step_budget": 32, "student_options": FAST_STUDENT, "timings": False}
SEED0, SEED1 = (trial_name(ENV_ID, "uniform", s) for s in (0, 1))


def _grid() -> SweepGrid:
    return SweepGrid(envs=[ENV_ID], agents=["uniform"], seeds=[0, 1], env_options=[dict(OPTIONS)])


@pytest.fixture(scope="module")
def clean_sweep(ray_local, tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "clean"
    return run_sweep(_grid(), out, max_retries=0, poll_seconds=0.2)


def _recorded(path: Path) -> tuple[list[dict], list[list[dict]], dict]:
    """What a run directory says, less wall-clock seconds (they differ run to run)."""
    run = RunDirectory(path)
    steps = [{k: v for k, v in r.items() if not k.startswith("time/")} for r in run.steps()]
    data = [run.step_data(r["step"]) for r in steps]
    summary = {k: v for k, v in run.summary().items() if k != "seconds"}
    return steps, data, summary


def test_a_two_trial_sweep_writes_two_complete_run_directories(clean_sweep):
    assert {name: s.state for name, s in clean_sweep.trials.items()} == {SEED0: "done", SEED1: "done"}
    described = json.loads((clean_sweep.path / "sweep.json").read_text())
    assert described["grid"] == _grid().to_json()
    assert [t["name"] for t in described["trials"]] == [SEED0, SEED1]
    for seed, name in ((0, SEED0), (1, SEED1)):
        run = RunDirectory(clean_sweep.path / name)
        config, summary = run.config(), run.summary()
        assert (config["env_id"], config["agent"], config["seed"]) == (ENV_ID, "uniform", seed)
        assert summary is not None and summary["steps"] == 3 == len(run.steps())
        assert [len(run.step_data(r["step"])) for r in run.steps()] == [32, 32, 32]
        assert not run.checkpoint_path.exists()
        assert clean_sweep.trials[name].attempts == 1


def test_a_sweep_directory_makes_a_leaderboard(clean_sweep, tmp_path):
    from datagym.leaderboard import load_results, write

    results = load_results(clean_sweep.path)
    assert sorted((r.agent, r.seed) for r in results) == [("uniform", 0), ("uniform", 1)]
    paths = write(results, tmp_path / "board")
    # one board (the env with the sweep's small budgets, named after them): markdown, CSV, curves
    names = sorted(p.name for p in paths)
    assert len(names) == 3 and names[1] == "leaderboard.md"
    assert names[0].startswith("curves_Arithmetic-SkillList-v1") and names[0].endswith(".png")
    assert names[2].startswith("leaderboard_Arithmetic-SkillList-v1") and names[2].endswith(".csv")
    tests = [RunDirectory(clean_sweep.path / n).summary()["test_macro_accuracy"] for n in (SEED0, SEED1)]
    assert f"| 1 | uniform | 2 | {sum(tests) / 2:.4f} |" in (tmp_path / "board" / "leaderboard.md").read_text()


def test_a_trial_directory_is_exactly_what_datagym_run_writes(clean_sweep, tmp_path):
    env = gym.make(ENV_ID, **OPTIONS)
    agent = make_agent("uniform", env)
    run_episode(env, agent, seed=1, out_dir=str(tmp_path / "run"), config=episode_config(env, "uniform", {}, 1))
    assert sorted(p.name for p in (tmp_path / "run").rglob("*")) == sorted(
        p.name for p in (clean_sweep.path / SEED1).rglob("*")
    )
    assert _recorded(tmp_path / "run") == _recorded(clean_sweep.path / SEED1)


def test_running_a_sweep_again_skips_its_finished_trials(clean_sweep):
    before = {name: (clean_sweep.path / name / "summary.json").stat().st_mtime_ns for name in (SEED0, SEED1)}
    seen: list[tuple[str, str]] = []
    result = run_sweep(
        _grid(), clean_sweep.path, on_update=lambda statuses, events: seen.extend((k, s.trial.name) for k, s in events)
    )
    assert seen == [("skipped", SEED0), ("skipped", SEED1)]
    assert result.count("skipped") == 2 and result.count("done") == 0
    after = {name: (clean_sweep.path / name / "summary.json").stat().st_mtime_ns for name in (SEED0, SEED1)}
    assert after == before


def test_trials_that_raise_or_lose_their_worker_are_retried_from_their_checkpoint(clean_sweep, tmp_path):
    fault = FailOnce({SEED0: (1, "raise"), SEED1: (2, "kill")})  # the second: SIGKILL of its own worker
    result = run_sweep(_grid(), tmp_path / "faulty", max_retries=1, fault=fault, poll_seconds=0.2)
    for name, resumed_from in ((SEED0, 1), (SEED1, 2)):
        status = result.trials[name]
        assert status.state == "done", status.error
        assert status.attempts == 2
        assert status.resumed_from == [resumed_from]  # the retry went on from the checkpoint
        assert status.steps_redone == 0  # no finished step was done twice
        assert _recorded(tmp_path / "faulty" / name) == _recorded(clean_sweep.path / name)


def test_a_trial_out_of_retries_fails_alone_and_the_next_sweep_resumes_it(clean_sweep, tmp_path):
    out = tmp_path / "failing"
    result = run_sweep(_grid(), out, max_retries=0, fault=FailOnce({SEED1: (1, "raise")}), poll_seconds=0.2)
    assert result.trials[SEED0].state == "done"
    failed = result.trials[SEED1]
    assert failed.state == "failed" and "InjectedFault" in failed.error and "after step 1" in failed.error
    assert RunDirectory(out / SEED1).checkpoint_path.exists() and len(RunDirectory(out / SEED1).steps()) == 1

    again = run_sweep(_grid(), out, max_retries=0, poll_seconds=0.2)  # the same sweep, run again
    assert again.trials[SEED0].state == "skipped"
    assert again.trials[SEED1].state == "done" and again.trials[SEED1].resumed_from == []
    assert _recorded(out / SEED1) == _recorded(clean_sweep.path / SEED1)


# -- the grid and bad input (no Ray needed) ---------------------------------------------------
def test_seeds_parse_ranges_and_lists():
    assert parse_seeds("0-3") == [0, 1, 2, 3]
    assert parse_seeds("0,3, 7") == [0, 3, 7]
    assert parse_seeds("0-1,9") == [0, 1, 9]
    for bad in ("", "a", "3-1", "-1", "1,1"):
        with pytest.raises(SweepError, match="--seeds: expected"):
            parse_seeds(bad)


def test_trial_names_come_from_env_agent_seed_and_option_set():
    grid = SweepGrid(envs=[ENV_ID], agents=["uniform", "random"], seeds=[0], env_options=[{}, {"step_budget": 192}])
    assert [t.name for t in grid.trials()] == [
        "Arithmetic-SkillList-v1-uniform-seed0-opts0", "Arithmetic-SkillList-v1-random-seed0-opts0",
        "Arithmetic-SkillList-v1-uniform-seed0-opts1", "Arithmetic-SkillList-v1-random-seed0-opts1",
    ]
    per_agent = SweepGrid(envs=[ENV_ID], agents=["uniform", "exp3s"], seeds=[0], agent_options={"exp3s": {"gamma": 0.2}})
    assert {t.agent: t.agent_options for t in per_agent.trials()} == {"uniform": {}, "exp3s": {"gamma": 0.2}}


def test_a_directory_of_another_sweep_is_refused(tmp_path):
    directory = SweepDirectory(tmp_path)
    directory.write(_grid(), _grid().trials())
    other = SweepGrid(envs=[ENV_ID], agents=["random"], seeds=[0])
    with pytest.raises(SweepError, match="holds a sweep of another grid"):
        directory.check_can_hold(other)
    directory.check_can_hold(_grid())  # the same grid: resumable


def test_validate_builds_every_env_and_agent():
    assert validate(_grid()) == {SEED0: 3, SEED1: 3}
    with pytest.raises(ValueError, match=r"Unknown option\(s\) \['window'\] for agent 'uniform'"):
        validate(SweepGrid(envs=[ENV_ID], agents=["uniform"], seeds=[0], agent_options={"window": 3}))


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--agent", "nope"], "Unknown agent 'nope'"),
        (["--env", "datagym/Nope-SkillList-v0"], "--env: unknown env 'datagym/Nope-SkillList-v0'"),
        (["--env-options", '[{"bogus": 1}]'], "Unknown env option(s) ['bogus']"),
        (["--env-options", '{"student_resources": {"gpus": 1}}'], "Unknown student_resources key(s) ['gpus']"),
        (["--env-options", "[]"], "expected a JSON object or a non-empty list of objects"),
        (["--seeds", "x"], "--seeds: expected non-negative seeds"),
        (["--agent", "uniform", "--agent", "uniform"], "--agent: expected each value once"),
        (["--workers", "2", "--address", "auto"], "expected no --workers with --address"),
    ],
)
def test_bad_input_exits_2_naming_the_problem_and_writes_nothing(tmp_path, flags, message):
    out = tmp_path / "sweep"
    result = CliRunner().invoke(app, ["sweep", *flags, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not out.exists()


def test_resume_takes_no_grid_flags(tmp_path):
    result = CliRunner().invoke(app, ["sweep", "--resume", str(tmp_path), "--seeds", "3"])
    assert result.exit_code == 2
    assert "expected no grid flags, got --seeds" in result.output


@pytest.mark.slow
def test_cli_sweep_survives_kill_9_of_a_worker_mid_step(tmp_path):
    """The real thing: `datagym sweep` in a subprocess, SIGKILL from outside to the Ray worker
    running a trial while it trains; the trial is retried, resumes from its checkpoint, and the
    sweep ends with every run directory equal to an uninterrupted one."""
    flags = ["--agent", "uniform", "--seeds", "0-1", "--workers", "2", "--total-budget", "160",
             "--step-budget", "32", "--student-options", json.dumps({**FAST_STUDENT, "epochs": 4}),
             "--env-options", '{"timings": false}']
    clean = subprocess.run([sys.executable, "-m", "datagym", "sweep", *flags, "--out", str(tmp_path / "a")],
                           capture_output=True, text=True)
    assert clean.returncode == 0, clean.stderr
    proc = subprocess.Popen([sys.executable, "-m", "datagym", "sweep", *flags, "--out", str(tmp_path / "b")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    target = tmp_path / "b" / SEED1 / "steps.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (target.exists() and len(target.read_text().splitlines()) >= 2):
        time.sleep(0.05)
    pid = _worker_running(SEED1)
    assert pid is not None, "no Ray worker runs the trial"
    os.kill(pid, signal.SIGKILL)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    assert "resumed from step" in out
    for name in (SEED0, SEED1):
        assert _recorded(tmp_path / "b" / name) == _recorded(tmp_path / "a" / name)


def _worker_running(trial: str) -> int | None:
    """The PID of the Ray worker whose process title names the trial's task."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if f"datagym-trial:{trial}" in title:
            return int(entry.name)
    return None
