"""The TSCL learning-progress teacher (Matiisen et al.) on scripted accuracy histories."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datagym.agents.learning_progress import LearningProgressAgent, slope
from datagym.envs.skill_list_env import allocate


def _agent(spaces_for, n=4, seed=0, **options):
    agent = LearningProgressAgent(*spaces_for(n), **options)
    agent.reset(seed=seed)
    return agent


def _feed(agent, obs, history):
    """Act on each row of ``history`` in turn; return every action."""
    return [agent.act(obs(row), {}) for row in history]


def test_slope_is_the_least_squares_slope_per_column():
    history = np.array([[0.0, 0.5, 1.0], [0.1, 0.5, 0.8], [0.2, 0.5, 0.6]])
    assert np.allclose(slope(history), [0.1, 0.0, -0.2])
    assert np.allclose(slope(history[:1]), [0.0, 0.0, 0.0])  # one point: no slope


def test_first_step_measures_every_skill(spaces_for, obs):
    agent = _agent(spaces_for)
    action = agent.act(obs([0.0] * 4), {})
    assert np.all(action > 0) and np.all(action == action[0])


def test_prefers_the_skill_that_improves_fastest(spaces_for, obs):
    agent = _agent(spaces_for, top_k=4)
    history = [[0.1 + 0.02 * t, 0.3, 0.1 + 0.10 * t, 0.5 + 0.01 * t] for t in range(4)]
    action = _feed(agent, obs, history)[-1]
    assert np.argmax(action) == 2
    # Faster progress, more data: skill 2 > skill 0 > skill 3 > skill 1 (flat).
    assert action[2] > action[0] > action[3] > action[1]
    assert np.isclose(action.sum(), 1.0, atol=1e-6)


def test_switches_to_a_skill_that_starts_improving_later(spaces_for, obs):
    # Skill 0 improves for a while then plateaus; skill 3 only starts improving at t=4.
    agent = _agent(spaces_for)  # window 3, top_k 1
    history = []
    for t in range(10):
        a0 = min(0.1 * t, 0.4)
        a3 = max(0.0, 0.08 * (t - 4))
        history.append([a0, 0.2, 0.2, a3])
    actions = _feed(agent, obs, history)
    assert np.argmax(actions[3]) == 0  # while skill 0 is the one moving
    assert np.argmax(actions[-1]) == 3  # once skill 0 is flat for a window, skill 3 takes over


def _forgetting_history():
    # Skill 1 is being forgotten (0.8 -> 0.5); skill 2 improves slowly; the others are flat.
    return [[0.3, 0.8 - 0.1 * t, 0.2 + 0.01 * t, 0.3] for t in range(4)]


def test_absolute_progress_revisits_a_skill_being_forgotten(spaces_for, obs):
    agent = _agent(spaces_for, absolute=True)
    action = _feed(agent, obs, _forgetting_history())[-1]
    assert np.argmax(action) == 1
    assert action[1] == pytest.approx(0.8 + 0.2 / 4)  # the exploit share plus its exploration share


def test_without_absolute_a_falling_skill_gets_only_exploration(spaces_for, obs):
    agent = _agent(spaces_for, absolute=False)
    action = _feed(agent, obs, _forgetting_history())[-1]
    assert np.argmax(action) == 2  # the (slowly) improving skill, not the forgotten one
    assert action[1] == pytest.approx(0.2 / 4)


def test_window_limits_how_far_back_progress_is_measured(spaces_for, obs):
    # Skill 0 leapt early then stayed flat; skill 1 creeps up. A short window forgets the leap.
    history = [[0.0, 0.0], [0.9, 0.01], [0.9, 0.02], [0.9, 0.03], [0.9, 0.04]]
    short = _feed(_agent(spaces_for, n=2, window=3, top_k=1), obs, history)[-1]
    long = _feed(_agent(spaces_for, n=2, window=5, top_k=1), obs, history)[-1]
    assert np.argmax(short) == 1
    assert np.argmax(long) == 0


def test_epsilon_gives_every_skill_a_share_every_step(spaces_for, obs):
    n, epsilon, budget = 6, 0.3, 60
    agent = _agent(spaces_for, n=n, epsilon=epsilon, top_k=1)
    rng = np.random.default_rng(0)
    acc = rng.random(n)
    got_data = np.zeros(n)
    for _ in range(50):
        acc = np.clip(acc + rng.normal(0, 0.1, n), 0, 1)
        action = agent.act(obs(acc), {})
        assert np.all(action >= epsilon / n - 1e-7)
        counts = allocate(action.astype(np.float64), budget)
        assert np.all(counts >= np.floor(epsilon / n * budget))
        got_data += counts > 0
    assert np.all(got_data == 50)  # no skill is ever starved of data


def test_without_epsilon_skills_outside_top_k_get_nothing(spaces_for, obs):
    agent = _agent(spaces_for, epsilon=0.0, top_k=2)
    history = [[0.1 * t, 0.05 * t, 0.01 * t, 0.0] for t in range(3)]
    action = _feed(agent, obs, history)[-1]
    assert np.flatnonzero(action).tolist() == [0, 1]
    assert action.sum() == pytest.approx(1.0)


def test_ties_are_broken_at_random_not_always_toward_the_first_skill(spaces_for, obs):
    agent = _agent(spaces_for, n=5, top_k=1, seed=0)
    favourite = [int(np.argmax(a)) for a in _feed(agent, obs, [[0.5] * 5] * 40)[1:]]
    assert len(set(favourite)) > 1


def test_same_seed_same_choices_and_reset_forgets_history(spaces_for, obs):
    history = [[0.5] * 5] * 10
    a = _feed(_agent(spaces_for, n=5, top_k=1, seed=4), obs, history)
    b = _feed(_agent(spaces_for, n=5, top_k=1, seed=4), obs, history)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    agent = _agent(spaces_for, n=5, top_k=1, seed=4)
    _feed(agent, obs, [[0.1 * t] * 5 for t in range(5)])
    agent.reset(seed=4)
    assert np.array_equal(agent.act(obs([0.5] * 5), {}), np.ones(5, dtype=np.float32))
    assert all(np.array_equal(x, y) for x, y in zip(a[1:], _feed(agent, obs, history[1:])))


@settings(max_examples=50, deadline=None)
@given(
    rows=st.lists(
        st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=5, max_size=5), min_size=1, max_size=8
    ),
    absolute=st.booleans(),
    epsilon=st.floats(0.0, 1.0),
)
def test_actions_are_always_a_distribution_in_the_action_space(spaces_for, obs, rows, absolute, epsilon):
    agent = _agent(spaces_for, n=5, absolute=absolute, epsilon=epsilon)
    for action in _feed(agent, obs, rows):
        assert agent.action_space.contains(action)
        assert np.all(action >= 0) and action.sum() > 0
        assert np.all(action >= epsilon / 5 - 1e-6)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"window": 1}, r"Expected window >= 2 \(a slope needs two points\), got 1\."),
        ({"epsilon": 1.5}, r"Expected epsilon in \[0, 1\], got 1\.5\."),
        ({"epsilon": -0.1}, r"Expected epsilon in \[0, 1\], got -0\.1\."),
        ({"temperature": 0.0}, r"Expected a positive temperature, got 0\.0\."),
    ],
)
def test_bad_options_raise(spaces_for, options, message):
    with pytest.raises(ValueError, match=message):
        LearningProgressAgent(*spaces_for(4), **options)


@pytest.mark.parametrize("top_k", [0, -1, 5])
def test_top_k_outside_the_skill_count_is_rejected_when_built(spaces_for, obs, top_k):
    # BUG: top_k is not validated. top_k=0 crashes only at the second act() with numpy's
    # "zero-size array to reduction operation maximum"; top_k=-1 silently means "all but one".
    with pytest.raises(ValueError, match=r"Expected top_k in \[1, 4\], got -?\d+\."):
        LearningProgressAgent(*spaces_for(4), top_k=top_k)
