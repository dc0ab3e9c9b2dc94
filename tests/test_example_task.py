"""examples/mytasks.py, the example task of the README: it passes check_task and teaches."""

from __future__ import annotations

import importlib
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from datagym.errors import OracleError
from datagym.testing import check_task

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
FAST = {"n_layer": 1, "n_embd": 16, "n_head": 2, "epochs": 1}


@pytest.fixture
def mytasks(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))  # as when run from examples/
    import mytasks

    return mytasks


def test_the_example_task_passes_check_task(mytasks):
    report = check_task(mytasks.StringTask())
    assert report["warnings"] == [] and report["skills"] == 5
    assert {"H", ":", "'"} <= set(report["characters"])


def test_importing_registers_the_env_and_importing_again_does_not_fail(mytasks):
    spec = gym.spec("mine/Strings-SkillList-v0")
    assert spec.entry_point == "datagym.envs.skill_list_env:SkillListEnv"
    assert spec.kwargs == {"task": "mytasks:StringTask"} and spec.max_episode_steps == 20
    importlib.reload(mytasks)
    assert gym.spec("mine/Strings-SkillList-v0").kwargs == {"task": "mytasks:StringTask"}


def test_a_two_step_episode(mytasks):
    env = gym.make("mine/Strings-SkillList-v0", total_budget=40, step_budget=20, student_options=FAST,
                   task_options={"heldout_size": 5}, timings=False)
    obs, info = env.reset(seed=0)
    assert env.unwrapped.student.unencodable("Count 'l' in: Hello") == []
    for _ in range(2):
        obs, reward, terminated, truncated, info = env.step(np.ones(env.action_space.shape, dtype=np.float32))
        assert info["teacher/accepted"] == 20 and np.isfinite(reward)
    assert terminated and set(info["student/test_accuracy"]) == set(mytasks.TEMPLATES)
    env.close()


def test_the_oracle_labels_any_well_formed_question(mytasks):
    task = mytasks.StringTask()
    assert task.label("Reverse: Hello") == "olleH" and task.label("Upper: Hello") == "HELLO"
    assert task.label("Count 'l' in: Hello") == "2" and task.label("Length: Hello") == "5"
    assert task.label("First: Hello") == "H"
    with pytest.raises(OracleError, match=r"Expected a question like"):
        task.label("Reverse Hello")
