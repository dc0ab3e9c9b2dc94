"""The state-blind baselines (no teaching, uniform, random) and DataEnvGym's weakest-skill teacher."""

from __future__ import annotations

import numpy as np
import pytest

from datagym.agents.simple_teachers import NoTeachingAgent, RandomAgent, UniformAgent, WeakestSkillAgent
from datagym.envs.skill_list_env import allocate

N = 6


def _agent(cls, spaces_for, n=N, **options):
    return cls(*spaces_for(n), **options)


# -- no teaching ---------------------------------------------------------------------------------


def test_no_teaching_spends_nothing(spaces_for, obs):
    agent = _agent(NoTeachingAgent, spaces_for)
    agent.reset(seed=0)
    for acc in ([0.0] * N, [0.1, 0.9, 0.5, 0.0, 1.0, 0.3]):
        action = agent.act(obs(acc), {})
        assert action.shape == (N,)
        assert action.dtype == np.float32
        # All zeros is the env's documented "generate nothing, spend nothing" action.
        assert np.all(action == 0)


# -- uniform -------------------------------------------------------------------------------------


def test_uniform_gives_every_skill_the_same_weight(spaces_for, obs):
    agent = _agent(UniformAgent, spaces_for)
    agent.reset(seed=0)
    for acc in ([0.0] * N, [0.1, 0.9, 0.5, 0.0, 1.0, 0.3]):
        action = agent.act(obs(acc), {})
        assert action.shape == (N,)
        assert np.all(action > 0)
        assert np.all(action == action[0])
    # The env splits a budget that divides evenly into equal counts.
    assert allocate(action.astype(np.float64), 60).tolist() == [10] * N


# -- random --------------------------------------------------------------------------------------


def _random_actions(seed, steps=5, spaces_for=None, obs=None):
    agent = RandomAgent(*spaces_for(N))
    agent.reset(seed=seed)
    return [agent.act(obs([0.5] * N), {}) for _ in range(steps)]


def test_random_weights_are_valid_and_change_every_step(spaces_for, obs):
    actions = _random_actions(0, steps=20, spaces_for=spaces_for, obs=obs)
    for a in actions:
        assert a.shape == (N,)
        assert np.all(np.isfinite(a)) and np.all(a >= 0)
        assert a.sum() > 0  # always spends: never the all-zero action
    assert len({a.tobytes() for a in actions}) == len(actions)


def test_random_same_seed_same_sequence_and_different_seed_differs(spaces_for, obs):
    first = _random_actions(7, spaces_for=spaces_for, obs=obs)
    again = _random_actions(7, spaces_for=spaces_for, obs=obs)
    other = _random_actions(8, spaces_for=spaces_for, obs=obs)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not any(np.array_equal(a, b) for a, b in zip(first, other))


def test_random_ignores_the_observation(spaces_for, obs):
    a, b = RandomAgent(*spaces_for(N)), RandomAgent(*spaces_for(N))
    a.reset(seed=3)
    b.reset(seed=3)
    assert np.array_equal(a.act(obs([0.0] * N), {}), b.act(obs([1.0] * N), {}))


# -- weakest skill -------------------------------------------------------------------------------


def test_weakest_skill_puts_equal_weight_on_the_k_lowest_accuracies(spaces_for, obs):
    agent = _agent(WeakestSkillAgent, spaces_for, k=2)
    agent.reset(seed=0)
    action = agent.act(obs([0.9, 0.2, 0.7, 0.05, 0.5, 0.6]), {})
    assert np.flatnonzero(action).tolist() == [1, 3]
    assert action[1] == action[3] > 0


def test_weakest_skill_follows_the_student_as_it_improves(spaces_for, obs):
    agent = _agent(WeakestSkillAgent, spaces_for, k=1)
    agent.reset(seed=0)
    assert np.argmax(agent.act(obs([0.1, 0.5, 0.5, 0.5, 0.5, 0.5]), {})) == 0
    # Skill 0 got better; skill 4 is now the weakest.
    assert np.argmax(agent.act(obs([0.8, 0.5, 0.5, 0.5, 0.3, 0.5]), {})) == 4


def test_weakest_skill_default_k_is_a_third_of_the_skills(spaces_for, obs):
    agent = WeakestSkillAgent(*spaces_for(15))
    agent.reset(seed=0)
    acc = np.linspace(1.0, 0.0, 15)  # the last skills are the weakest
    action = agent.act(obs(acc), {})
    assert np.flatnonzero(action).tolist() == [10, 11, 12, 13, 14]


def test_weakest_skill_breaks_accuracy_ties_toward_fewer_examples_seen(spaces_for, obs):
    agent = _agent(WeakestSkillAgent, spaces_for, k=2)
    agent.reset(seed=0)
    # Every skill at 0 accuracy (the untrained student): the least-practised ones go first.
    action = agent.act(obs([0.0] * N, examples_seen=[40, 10, 30, 0, 20, 50]), {})
    assert np.flatnonzero(action).tolist() == [1, 3]
    # Full ties fall to the lower index, deterministically.
    action = agent.act(obs([0.0] * N, examples_seen=[0] * N), {})
    assert np.flatnonzero(action).tolist() == [0, 1]


@pytest.mark.parametrize("k", [0, 7, -1])
def test_weakest_skill_rejects_k_outside_the_skill_count(spaces_for, k):
    with pytest.raises(ValueError, match=rf"Expected k in \[1, {N}\], got {k}\."):
        WeakestSkillAgent(*spaces_for(N), k=k)


@pytest.mark.parametrize(
    "env_id", ["datagym/Arithmetic-OpenEnded-v1", "datagym/Arithmetic-SkillTree-v1", "datagym/Arithmetic-SkillList-v1"]
)
def test_no_teaching_spends_nothing_at_every_level(env_id, fast_env_kwargs):
    import gymnasium as gym

    from datagym.agents import make_agent

    env = gym.make(env_id, **fast_env_kwargs)
    agent = make_agent("no_teaching", env)
    obs, info = env.reset(seed=0)
    agent.reset(0)
    action = agent.act(obs, info)
    assert env.action_space.contains(action)
    obs, reward, terminated, truncated, info = env.step(action)
    assert info["teacher/generated"] == 0 and info["teacher/accepted"] == 0
    assert info["teacher/budget_left"] == fast_env_kwargs["total_budget"]
    assert reward == 0.0
