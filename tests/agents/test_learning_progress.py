"""The TSCL learning-progress teacher (Matiisen et al., Window algorithm) on scripted histories."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datagym.agents.learning_progress import LearningProgressAgent, slope


def _agent(spaces_for, n=4, seed=0, **options):
    agent = LearningProgressAgent(*spaces_for(n), **options)
    agent.reset(seed=seed)
    return agent


def _train_all(agent, obs, history):
    """Act on each row in turn as if every skill had been trained each step; return the actions."""
    actions = []
    for row in history:
        actions.append(agent.act(obs(row), {}))
        agent.last_action = np.ones(agent.n_skills)  # pretend all skills got data
    return actions


def _policy_after(agent, obs, history):
    """The policy once every row has been observed (the last act recorded the last row)."""
    _train_all(agent, obs, history)
    return agent.policy()


def test_slope_is_the_least_squares_slope_per_column():
    history = np.array([[0.0, 0.5, 1.0], [0.1, 0.5, 0.8], [0.2, 0.5, 0.6]])
    assert np.allclose(slope(history), [0.1, 0.0, -0.2])
    assert np.allclose(slope(history[:1]), [0.0, 0.0, 0.0])  # one point: no slope


def test_before_any_slope_every_skill_is_equally_likely(spaces_for, obs):
    agent = _agent(spaces_for)
    agent.observe(agent.score(obs([0.0] * 4)))
    assert np.allclose(agent.policy(), 0.25)


def test_prefers_the_skill_that_improves_fastest(spaces_for, obs):
    agent = _agent(spaces_for, window=3, epsilon=0.0)
    history = [[0.1 + 0.02 * t, 0.3, 0.1 + 0.10 * t, 0.5 + 0.01 * t] for t in range(4)]
    pi = _policy_after(agent, obs, history)
    # Proportional to progress: skill 2 (0.10/step) > skill 0 (0.02) > skill 3 (0.01) > skill 1 (flat).
    assert pi[2] > pi[0] > pi[3] > pi[1] == 0.0
    assert np.isclose(pi[2] / pi[0], 5.0)


def test_boltzmann_temperature_concentrates_on_the_fastest(spaces_for, obs):
    agent = _agent(spaces_for, window=3, epsilon=0.0, temperature=0.05)
    history = [[0.1 + 0.02 * t, 0.3, 0.1 + 0.10 * t, 0.5 + 0.01 * t] for t in range(4)]
    pi = _policy_after(agent, obs, history)
    assert pi[2] > 0.99


def test_progress_of_a_skill_is_measured_only_over_its_own_training_steps(spaces_for, obs):
    # Skill 0 leapt while trained, then rested; its slope is kept while it rests (TSCL),
    # not diluted by the flat measurements taken while other skills were trained.
    agent = _agent(spaces_for, n=2, epsilon=0.0)
    agent.act(obs([0.0, 0.0]), {})
    agent.last_action = np.array([1.0, 0.0])
    agent.act(obs([0.4, 0.0]), {})
    agent.last_action = np.array([0.0, 1.0])
    for _ in range(3):
        agent.act(obs([0.4, 0.05]), {})
        agent.last_action = np.array([0.0, 1.0])
    assert agent.history[0] == pytest.approx([0.0, 0.4])
    p = agent.progress()
    assert p[0] == pytest.approx(1.0)  # the largest progress, kept from its own steps


def test_an_untrained_skill_is_valued_at_optimism(spaces_for, obs):
    agent = _agent(spaces_for, n=3, epsilon=0.0, optimism=0.5)
    agent.act(obs([0.0, 0.0, 0.0]), {})
    agent.last_action = np.array([1.0, 1.0, 0.0])
    agent.act(obs([0.4, 0.1, 0.0]), {})
    np.testing.assert_allclose(agent.progress(), [1.0, 0.25, 0.5])


def _forgetting_history():
    # Skill 1 was learned and is now being forgotten; skill 0 creeps up slowly.
    return [[0.1, 0.9, 0.0, 0.0], [0.12, 0.7, 0.0, 0.0], [0.14, 0.5, 0.0, 0.0]]


def test_absolute_progress_revisits_a_skill_being_forgotten(spaces_for, obs):
    pi = _policy_after(_agent(spaces_for, window=3, epsilon=0.0, absolute=True), obs, _forgetting_history())
    assert np.argmax(pi) == 1


def test_without_absolute_a_falling_skill_gets_nothing_but_exploration(spaces_for, obs):
    pi = _policy_after(_agent(spaces_for, window=3, epsilon=0.2, absolute=False), obs, _forgetting_history())
    assert np.argmax(pi) == 0
    assert pi[1] == pytest.approx(0.2 / 4)


def test_window_limits_how_far_back_progress_is_measured(spaces_for, obs):
    # Skill 0 leapt early then stayed flat; skill 1 creeps up. A short window forgets the leap.
    history = [[0.0, 0.0], [0.6, 0.05], [0.6, 0.10], [0.6, 0.15], [0.6, 0.20]]
    short = _policy_after(_agent(spaces_for, n=2, window=2, epsilon=0.0), obs, history)
    long = _policy_after(_agent(spaces_for, n=2, window=5, epsilon=0.0), obs, history)
    assert np.argmax(short) == 1 and np.argmax(long) == 0


def test_loss_signal_counts_a_falling_loss_as_progress(spaces_for, obs):
    agent = _agent(spaces_for, n=2, epsilon=0.0, signal="loss", absolute=False)
    for loss in ([3.0, 3.0], [2.0, 3.0], [1.0, 3.1]):
        agent.act(obs([0.0, 0.0], loss=loss), {})
        agent.last_action = np.ones(2)
    assert agent.policy()[0] == pytest.approx(1.0)


def test_draws_concentrate_the_step_on_few_skills(spaces_for, obs):
    agent = _agent(spaces_for, n=15, draws=4)
    action = agent.act(obs([0.0] * 15), {})
    assert 1 <= np.count_nonzero(action) <= 4
    assert np.allclose(action * 4, np.round(action * 4))  # multiples of one draw
    assert np.isclose(action.sum(), 1.0)


def test_epsilon_keeps_every_skill_reachable(spaces_for, obs):
    agent = _agent(spaces_for, n=4, epsilon=0.2, window=2)
    _train_all(agent, obs, [[0.0, 0.0, 0.0, 0.0], [0.5, 0.0, 0.0, 0.0]])
    pi = agent.policy()
    assert np.all(pi >= 0.2 / 4 - 1e-12) and np.isclose(pi.sum(), 1.0)


def test_same_seed_same_choices_and_reset_forgets_history(spaces_for, obs):
    history = [[0.1 * t, 0.05 * t, 0.0, 0.02 * t, 0.0] for t in range(6)]
    a = [agent_action.tolist() for agent_action in _train_all(_agent(spaces_for, n=5, seed=4), obs, history)]
    b = [agent_action.tolist() for agent_action in _train_all(_agent(spaces_for, n=5, seed=4), obs, history)]
    assert a == b
    c = [x.tolist() for x in _train_all(_agent(spaces_for, n=5, seed=5), obs, history)]
    assert c != a
    agent = _agent(spaces_for, n=5, seed=4)
    _train_all(agent, obs, history)
    agent.reset(seed=4)
    assert agent.history == [[] for _ in range(5)] and agent.last_action is None


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(st.lists(st.floats(0, 1), min_size=4, max_size=4), min_size=1, max_size=6),
    absolute=st.booleans(),
    epsilon=st.floats(0, 1),
)
def test_actions_are_always_a_distribution_in_the_action_space(spaces_for, obs, rows, absolute, epsilon):
    agent = _agent(spaces_for, absolute=absolute, epsilon=epsilon)
    for row in rows:
        action = agent.act(obs(row), {})
        assert agent.action_space.contains(action)
        assert np.isclose(action.sum(), 1.0, atol=1e-6)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"window": 1}, r"Expected window >= 2 \(a slope needs two points\), got 1\."),
        ({"epsilon": 1.5}, r"Expected epsilon in \[0, 1\], got 1\.5\."),
        ({"temperature": 0.0}, r"Expected a positive temperature, got 0\.0\."),
        ({"draws": 0}, r"Expected draws to be a positive integer, got 0\."),
        ({"optimism": -1.0}, r"Expected optimism >= 0, got -1\.0\."),
        ({"signal": "reward"}, r"Expected signal 'loss' or 'accuracy', got 'reward'\."),
    ],
)
def test_bad_options_raise(spaces_for, options, message):
    with pytest.raises(ValueError, match=message):
        LearningProgressAgent(*spaces_for(4), **options)
