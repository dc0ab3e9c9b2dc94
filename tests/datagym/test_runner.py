"""run_episode: one episode of an agent, and the run directory it leaves behind."""

from __future__ import annotations

import json
import math
import re

import gymnasium as gym
import numpy as np
import pytest

import datagym
from datagym import run_dir as run_dir_module
from datagym.agents import make_agent
from datagym.errors import RunDirectoryError
from datagym.run_dir import RunDirectory
from datagym.runner import episode_config, run_episode

N_SKILLS = 15
SUMMARY_KEYS = {
    "steps",
    "return",
    "validation_curve",
    "validation_auc",
    "final_validation_macro_accuracy",
    "test_macro_accuracy",
    "test_accuracy",
    "examples_generated",
    "examples_accepted",
    "examples_rejected",
    "seconds",
}


@pytest.fixture
def env(fast_env_kwargs):
    env = gym.make(datagym.DEFAULT_ENV_ID, **fast_env_kwargs)  # timings on: the run records them
    yield env
    env.close()


@pytest.fixture
def recorded(env, tmp_path, monkeypatch):
    """One recorded episode of the weakest-skill teacher: (summary, run dir, step records, file writes)."""
    writes: list[str] = []
    real_write = run_dir_module.atomic_write_text

    def recording_write(path, text):
        writes.append(path.relative_to(tmp_path / "run").as_posix())
        real_write(path, text)

    monkeypatch.setattr(run_dir_module, "atomic_write_text", recording_write)
    agent = make_agent("weakest_skill", env)
    config = episode_config(env, "weakest_skill", {}, seed=3)
    records: list[dict] = []
    summary = run_episode(env, agent, seed=3, out_dir=str(tmp_path / "run"), config=config, on_step=records.append)
    return summary, RunDirectory(tmp_path / "run"), records, writes


def test_config_json_describes_the_run(recorded, env):
    _, run, _, writes = recorded
    config = run.config()
    assert writes[0] == "config.json"
    assert config["env_id"] == datagym.DEFAULT_ENV_ID
    assert config["agent"] == "weakest_skill"
    assert config["agent_options"] == {}
    assert config["seed"] == 3
    assert config["max_episode_steps"] == gym.spec(datagym.DEFAULT_ENV_ID).max_episode_steps
    assert config["skills"] == list(env.unwrapped.skill_names)
    assert config["datagym_version"] == datagym.__version__
    assert config["env_options"]["total_budget"] == 96
    assert config["env_options"]["step_budget"] == 32


def test_steps_jsonl_has_one_line_per_step_with_action_reward_accuracy_and_timings(recorded, env):
    summary, run, records, _ = recorded
    lines = run.steps_path.read_text().splitlines()
    steps = run.steps()
    assert len(lines) == len(steps) == summary["steps"] == len(records) == 3
    for i, row in enumerate(steps, start=1):
        assert row["step"] == i
        assert len(row["action"]) == N_SKILLS and all(isinstance(x, float) for x in row["action"])
        assert isinstance(row["reward"], float)
        assert row["terminated"] is (i == 3) and row["truncated"] is False
        assert set(row["student/accuracy"]) == set(env.unwrapped.skill_names)
        assert all(0.0 <= v <= 1.0 for v in row["student/accuracy"].values())
        for key in ("time/generate", "time/verify", "time/train", "time/evaluate", "time/step"):
            assert row[key] >= 0.0, key
        assert row["teacher/budget_left"] == 96 - 32 * i
    # What on_step saw is what was written (after JSON).
    assert json.loads(json.dumps(records)) == steps


def test_data_files_hold_every_generated_example_with_its_verdict(recorded, env):
    _, run, _, _ = recorded
    skills = set(env.unwrapped.skill_names)
    for row in run.steps():
        data = run.step_data(row["step"])
        assert (run.data_dir / f"step_{row['step']:04d}.jsonl").exists()
        assert len(data) == row["teacher/generated"] == sum(row["teacher/requested"].values())
        verdicts = [ex["verdict"] for ex in data]
        assert verdicts.count("accepted") == row["teacher/accepted"]
        assert "unverified" not in verdicts
        for ex in data:
            assert set(ex) == {"question", "answer", "skill", "provenance", "verdict"}
            assert ex["skill"] in skills
    assert sorted(p.name for p in run.data_dir.iterdir()) == ["step_0001.jsonl", "step_0002.jsonl", "step_0003.jsonl"]


def test_summary_is_written_last_and_matches_the_final_info(recorded):
    summary, run, records, writes = recorded
    assert writes[-1] == "summary.json"
    assert writes.count("summary.json") == 1
    on_disk = run.summary()
    assert on_disk == {**run.config(), **json.loads(json.dumps(summary))}
    final = records[-1]
    assert summary["test_macro_accuracy"] == final["student/test_macro_accuracy"]
    assert summary["test_accuracy"] == final["student/test_accuracy"]
    assert on_disk["test_accuracy"] == final["student/test_accuracy"]


def test_summary_totals_agree_with_the_steps(recorded):
    summary, run, records, _ = recorded
    assert SUMMARY_KEYS <= set(summary)
    steps = run.steps()
    assert summary["return"] == pytest.approx(sum(r["reward"] for r in steps))
    assert summary["examples_generated"] == sum(r["teacher/generated"] for r in steps) == 96
    assert summary["examples_accepted"] == sum(r["teacher/accepted"] for r in steps)
    curve = summary["validation_curve"]
    assert len(curve) == len(steps) + 1
    assert curve[1:] == [r["student/macro_accuracy"] for r in steps]
    assert summary["final_validation_macro_accuracy"] == curve[-1]
    assert summary["validation_auc"] == pytest.approx(np.mean(curve))
    assert summary["return"] == pytest.approx(curve[-1] - curve[0])
    seconds = summary["seconds"]
    assert set(seconds) == {"total", "generate", "verify", "train", "evaluate"}
    assert seconds["train"] == pytest.approx(sum(r["time/train"] for r in steps))
    assert seconds["total"] >= seconds["train"] + seconds["generate"]


def test_a_second_run_into_the_same_directory_is_refused(env, tmp_path):
    out = tmp_path / "run"
    agent = make_agent("uniform", env)
    run_episode(env, agent, seed=0, out_dir=str(out))
    before = RunDirectory(out).summary()
    with pytest.raises(RunDirectoryError, match=re.escape("already holds files")):
        run_episode(env, agent, seed=1, out_dir=str(out))
    assert RunDirectory(out).summary() == before
    summary = run_episode(env, agent, seed=1, out_dir=str(out), overwrite=True)
    assert RunDirectory(out).config()["seed"] == 1
    assert RunDirectory(out).summary()["steps"] == summary["steps"]


def test_summary_json_repeats_config_json_even_without_an_explicit_config(env, tmp_path):
    out = tmp_path / "run"
    summary = run_episode(env, make_agent("uniform", env), seed=4, out_dir=str(out))
    run = RunDirectory(out)
    assert run.summary() == {**run.config(), **json.loads(json.dumps(summary))}


def test_run_episode_from_python_writes_the_config_the_cli_writes(env, tmp_path):
    from datagym.leaderboard import load_results
    from datagym.runner import agent_name, episode_config

    agent = make_agent("uniform", env)
    run_episode(env, agent, seed=2, out_dir=str(tmp_path / "py"))
    written = RunDirectory(tmp_path / "py").config()
    expected = json.loads(json.dumps(episode_config(env, "uniform", {}, 2)))
    assert written == expected
    assert written["agent"] == "uniform" and written["env_id"] == env.spec.id
    (result,) = load_results(tmp_path)
    assert (result.agent, result.seed, result.level) == ("uniform", 2, "skill_list")
    assert agent_name(agent) == "uniform"


def test_an_unregistered_agent_is_recorded_by_its_import_path(env):
    from datagym.agents.simple_teachers import UniformAgent
    from datagym.runner import agent_name

    class Mine(UniformAgent):
        pass

    assert agent_name(Mine(env.action_space, env.observation_space)).endswith(":test_an_unregistered_agent_is_recorded_by_its_import_path.<locals>.Mine")


def test_without_a_directory_nothing_is_written(env, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    summary = run_episode(env, make_agent("uniform", env), seed=0)
    assert SUMMARY_KEYS <= set(summary)
    assert list(tmp_path.iterdir()) == []


def test_same_seed_gives_the_same_summary(fast_env_kwargs):
    summaries = []
    for _ in range(2):
        env = gym.make(datagym.DEFAULT_ENV_ID, timings=False, **fast_env_kwargs)
        summary = run_episode(env, make_agent("random", env), seed=21)
        summary.pop("seconds")
        summaries.append(summary)
    np.testing.assert_equal(summaries[0], summaries[1])


def test_a_truncated_episode_still_reports_the_test_score(fast_env_kwargs, tmp_path):
    # The no-teaching agent spends nothing, so the registered step limit ends the episode.
    env = gym.make(datagym.DEFAULT_ENV_ID, timings=False, **fast_env_kwargs)
    summary = run_episode(env, make_agent("no_teaching", env), seed=0, out_dir=str(tmp_path / "run"))
    limit = gym.spec(datagym.DEFAULT_ENV_ID).max_episode_steps
    steps = RunDirectory(tmp_path / "run").steps()
    assert summary["steps"] == len(steps) == limit
    assert steps[-1]["truncated"] is True and steps[-1]["terminated"] is False
    assert summary["examples_generated"] == 0
    assert math.isfinite(summary["test_macro_accuracy"])
    assert set(summary["test_accuracy"]) == set(env.unwrapped.skill_names)
    assert summary["test_macro_accuracy"] == env.unwrapped.test_metrics()["student/test_macro_accuracy"]
