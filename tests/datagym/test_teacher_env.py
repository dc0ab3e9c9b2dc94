"""TeacherEnv guards that no Skill-List action can reach: plans over the budget, reset state."""

from __future__ import annotations

import re

import numpy as np
import pytest

from datagym.engine import Plan
from datagym.envs.skill_list_env import SkillListEnv
from datagym.errors import InvalidActionError


@pytest.fixture
def env(fast_env_kwargs):
    return SkillListEnv(timings=False, **fast_env_kwargs)


def test_a_plan_over_the_budget_left_is_refused_and_changes_nothing(env, monkeypatch):
    env.reset(seed=0)
    rng_state = env.np_random.bit_generator.state
    monkeypatch.setattr(env, "_plan_from_action", lambda action: Plan(counts={"add_carry": 97}))
    expected = "Expected a plan of at most 96 examples (the budget left), got 97."
    with pytest.raises(InvalidActionError, match=re.escape(expected)):
        env.step(None)
    assert env.budget_left == 96 and env.steps == 0
    assert env.np_random.bit_generator.state == rng_state
    monkeypatch.setattr(env, "_plan_from_action", lambda action: Plan(counts={"add_carry": 96}))
    _, _, terminated, _, info = env.step(None)
    assert terminated and info["teacher/budget_left"] == 0


def test_reset_clears_the_episode(env):
    env.reset(seed=0)
    env.step(np.ones(len(env.skill_names)))
    assert env.examples_seen.sum() > 0 and env.last_examples
    obs, info = env.reset(seed=1)
    assert env.examples_seen.sum() == 0 and env.last_examples == [] and env.steps == 0
    assert env.budget_left == env.config.total_budget
    assert {"student/accuracy", "student/macro_accuracy", "teacher/budget_left"} <= set(info)
    assert not [k for k in info if k.startswith("time/")]  # timings off
    assert len(env.last_validation) == sum(len(v) for v in env.task.heldout("validation").values())


def test_validation_records_describe_each_question(env):
    env.reset(seed=0)
    record = env.last_validation[0]
    assert set(record) == {"skill", "question", "prediction", "gold", "correct", "difficulty", "loss"}
    # the held-out question's difficulty, so accuracy can be read per difficulty band
    assert all(0.0 <= r["difficulty"] <= 1.0 for r in env.last_validation)
    # and its answer loss, whose per-skill mean is the observation's loss
    for i, name in enumerate(env.skill_names):
        mine = [r["loss"] for r in env.last_validation if r["skill"] == name]
        assert env.loss[i] == pytest.approx(np.mean(mine))
    by_skill = {}
    for r in env.last_validation:
        by_skill.setdefault(r["skill"], []).append(r["correct"])
    np.testing.assert_allclose(env.accuracy, [np.mean(by_skill[s]) for s in env.skill_names])


def test_unknown_reset_options_are_refused(fast_env_kwargs):
    import gymnasium as gym
    import pytest

    import datagym
    from datagym.errors import ConfigError

    env = gym.make(datagym.DEFAULT_ENV_ID, **fast_env_kwargs)
    with pytest.raises(ConfigError, match=r"Unknown reset option\(s\) \['budget'\]; expected some of \[\]"):
        env.reset(seed=0, options={"budget": 5})
    obs, info = env.reset(seed=0, options={})
    assert "accuracy" in obs


def test_closing_the_env_closes_its_student(env, monkeypatch):
    """env.close() frees what the student holds outside the process (a Ray actor, a vLLM engine)."""
    closed = []
    monkeypatch.setattr(env.student, "close", lambda: closed.append(True))
    env.reset(seed=0)
    env.close()
    assert closed == [True]


def test_a_student_without_close_still_lets_the_env_close(env, monkeypatch):
    monkeypatch.setattr(env, "student", object())  # a user's duck-typed student
    env.close()
