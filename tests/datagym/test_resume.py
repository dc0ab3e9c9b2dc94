"""Resume: a run stopped at any point goes on from its last finished step, and the rest of the
trajectory is exactly that of a run never interrupted; no example is lost or recorded twice."""

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

from datagym.agents import make_agent
from datagym.errors import RunDirectoryError
from datagym.run_dir import RunDirectory
from datagym.runner import episode_config, load_resumable, resume_episode, run_episode

ENV_ID = "datagym/Arithmetic-SkillList-v1"


def _env_options(fast_env_kwargs: dict) -> dict:
    return {**fast_env_kwargs, "total_budget": 160, "timings": False}


def _start(path: Path, options: dict, agent: str = "exp3s", seed: int = 3):
    env = gym.make(ENV_ID, **options)
    teacher = make_agent(agent, env)
    return env, teacher, episode_config(env, agent, {}, seed)


def _without_time(record: dict) -> dict:
    return {k: v for k, v in record.items() if not k.startswith("time/")}


def _recorded(path: Path) -> tuple[list[dict], list[list[dict]], dict]:
    run = RunDirectory(path)
    steps = [_without_time(r) for r in run.steps()]
    data = [run.step_data(r["step"]) for r in steps]
    summary = {k: v for k, v in run.summary().items() if k != "seconds"}
    return steps, data, summary


class Stop(Exception):
    pass


def _stop_after(n: int):
    def on_step(record: dict) -> None:
        if record["step"] == n:
            raise Stop

    return on_step


def test_resume_after_an_interruption_equals_the_uninterrupted_run(tmp_path, fast_env_kwargs):
    options = _env_options(fast_env_kwargs)
    env, teacher, config = _start(tmp_path / "a", options)
    run_episode(env, teacher, seed=3, out_dir=str(tmp_path / "a"), config=config)

    env, teacher, config = _start(tmp_path / "b", options)
    with pytest.raises(Stop):
        run_episode(env, teacher, seed=3, out_dir=str(tmp_path / "b"), config=config, on_step=_stop_after(2))
    run = RunDirectory(tmp_path / "b")
    assert run.checkpoint_path.exists() and run.summary() is None and len(run.steps()) == 2

    seen: list[int] = []
    summary = resume_episode(str(tmp_path / "b"), on_step=lambda r: seen.append(r["step"]))
    assert seen == [3, 4, 5]  # only the steps not finished before
    assert summary["steps"] == 5
    assert _recorded(tmp_path / "b") == _recorded(tmp_path / "a")
    assert not run.checkpoint_path.exists()  # a finished run keeps no checkpoint


def test_unfinished_steps_recorded_after_the_checkpoint_are_dropped_then_redone(tmp_path, fast_env_kwargs):
    options = _env_options(fast_env_kwargs)
    env, teacher, config = _start(tmp_path / "a", options, agent="random")
    run_episode(env, teacher, seed=3, out_dir=str(tmp_path / "a"), config=config)

    env, teacher, config = _start(tmp_path / "b", options, agent="random")
    with pytest.raises(Stop):
        run_episode(env, teacher, seed=3, out_dir=str(tmp_path / "b"), config=config, on_step=_stop_after(2))
    run = RunDirectory(tmp_path / "b")
    # A process killed after writing step 3's data and line but before its checkpoint:
    a = RunDirectory(tmp_path / "a")
    run.write_step_data(3, a.step_data(3))
    run.write_steps(RunDirectory(tmp_path / "b").steps() + [a.steps()[2]])
    resumable = load_resumable(tmp_path / "b")
    assert resumable.steps_done == 2
    assert len(run.steps()) == 2 and not (run.data_dir / "step_0003.jsonl").exists()
    resume_episode(resumable)
    assert _recorded(tmp_path / "b") == _recorded(tmp_path / "a")


def test_a_run_killed_before_its_first_step_starts_over(tmp_path, fast_env_kwargs):
    options = _env_options(fast_env_kwargs)
    env, teacher, config = _start(tmp_path / "a", options)
    run_episode(env, teacher, seed=3, out_dir=str(tmp_path / "a"), config=config)
    env, teacher, config = _start(tmp_path / "b", options)
    RunDirectory(tmp_path / "b").create(config)  # config.json only: died during reset or step 1
    resume_episode(str(tmp_path / "b"))
    assert _recorded(tmp_path / "b") == _recorded(tmp_path / "a")


def test_resuming_a_finished_run_is_refused(tmp_path, fast_env_kwargs):
    env, teacher, config = _start(tmp_path / "a", _env_options(fast_env_kwargs))
    run_episode(env, teacher, seed=3, out_dir=str(tmp_path / "a"), config=config)
    with pytest.raises(RunDirectoryError, match="Expected an unfinished run directory, got .* which finished"):
        load_resumable(tmp_path / "a")


def test_a_checkpoint_that_is_not_ours_is_refused_by_name(tmp_path, fast_env_kwargs):
    env, teacher, config = _start(tmp_path / "b", _env_options(fast_env_kwargs))
    with pytest.raises(Stop):
        run_episode(env, teacher, seed=3, out_dir=str(tmp_path / "b"), config=config, on_step=_stop_after(1))
    RunDirectory(tmp_path / "b").checkpoint_path.write_bytes(b"not a pickle")
    with pytest.raises(RunDirectoryError, match="Expected a datagym checkpoint at .* got one that does not load"):
        load_resumable(tmp_path / "b")


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "datagym", "run", *args]


def _run_flags(fast_env_kwargs: dict) -> list[str]:
    student = {**fast_env_kwargs["student_options"], "epochs": 4}
    return [
        "--env", ENV_ID, "--agent", "learning_progress", "--seed", "7", "--total-budget", "192",
        "--step-budget", "32", "--student-options", json.dumps(student), "--env-options", '{"timings": false}',
    ]


@pytest.mark.parametrize("kill_after_steps", [1, 3])
def test_a_run_killed_with_sigkill_mid_step_resumes_to_the_uninterrupted_trajectory(
    tmp_path, fast_env_kwargs, kill_after_steps
):
    flags = _run_flags(fast_env_kwargs)
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(_cli(*flags, "--out", str(tmp_path / "a")), capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr

    proc = subprocess.Popen(_cli(*flags, "--out", str(tmp_path / "b")), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    steps = tmp_path / "b" / "steps.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if steps.exists() and len(steps.read_text().splitlines()) >= kill_after_steps:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)  # mid-step: the next step is training, or its files are being written
    proc.wait()
    assert RunDirectory(tmp_path / "b").summary() is None

    resumed = subprocess.run(_cli("--resume", str(tmp_path / "b")), capture_output=True, text=True, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stdout
    assert _recorded(tmp_path / "b") == _recorded(tmp_path / "a")
    examples = [json.dumps(e, sort_keys=True) for r in RunDirectory(tmp_path / "b").steps()
                for e in RunDirectory(tmp_path / "b").step_data(r["step"])]
    assert len(examples) == 192  # every example recorded once: none lost, none twice


def test_resume_refuses_other_run_flags(tmp_path):
    from typer.testing import CliRunner

    from datagym.cli import app

    result = CliRunner().invoke(app, ["run", "--resume", str(tmp_path), "--seed", "3"])
    assert result.exit_code == 2
    assert "expected no other run flags, got --seed" in result.output


def test_resume_of_a_path_that_is_not_a_run_directory(tmp_path):
    from typer.testing import CliRunner

    from datagym.cli import app

    result = CliRunner().invoke(app, ["run", "--resume", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert "expected a run directory" in result.output
