"""The student in a Ray actor gets the vocabulary the env's task needs, also after a pickle."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

from datagym.envs.skill_list_env import SkillListEnv
from datagym.errors import ConfigError

EXAMPLES = str(Path(__file__).resolve().parents[2] / "examples")
FAST = {"n_layer": 1, "n_embd": 16, "n_head": 2, "epochs": 1}


@pytest.fixture
def mytasks(monkeypatch):
    # Only this process can import mytasks: the actor's student is prepared with a TaskSummary,
    # so the Ray worker never needs the task's module.
    monkeypatch.syspath_prepend(EXAMPLES)
    import mytasks

    return mytasks


def _env(**overrides) -> SkillListEnv:
    options = dict(task="mytasks:StringTask", task_options={"heldout_size": 4}, total_budget=60, step_budget=20,
                   student_options=FAST, student_resources={"num_cpus": 1}, timings=False)
    return SkillListEnv(**{**options, **overrides})


def test_the_actor_student_is_prepared_with_the_task_and_a_pickled_env_replays_it(mytasks, ray_local):
    env = _env()
    local_alphabet = env.student._local.tokenizer.alphabet
    assert "H" in local_alphabet and ":" in local_alphabet and "'" in local_alphabet
    assert env.student._actor is None  # building the env starts nothing
    env.reset(seed=0)
    assert env.student._call("unencodable", "Reverse: Hello") == []
    _, reward, *_ = env.step(np.ones(env.action_space.shape, dtype=np.float32))
    state = env.student.state_dict()
    assert state["alphabet"] == local_alphabet

    copy = pickle.loads(pickle.dumps(env))
    assert copy.student._actor is None
    assert copy.student._call("state_dict")["alphabet"] == local_alphabet  # the new actor was prepared, then loaded
    rewards = [env.step(np.ones(env.action_space.shape, dtype=np.float32))[1],
               copy.step(np.ones(copy.action_space.shape, dtype=np.float32))[1]]
    assert rewards[0] == rewards[1]  # the copy continues exactly as the original
    env.student.close()
    copy.student.close()


def test_a_remote_student_whose_alphabet_lacks_the_tasks_characters_fails_where_the_env_is_made(mytasks):
    with pytest.raises(ConfigError, match=r"cannot encode ' ', \"'\", ':', 'A', 'B'"):
        _env(student_options={**FAST, "alphabet": "0123456789abcdefghijklmnopqrstuvwxyz="})
