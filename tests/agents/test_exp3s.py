"""EXP3.S (Graves et al. 2017) on a scripted student whose skills improve at fixed rates per pull."""

from __future__ import annotations

import numpy as np
import pytest

from datagym.agents.exp3s import Exp3SAgent

N = 4
#: accuracy gained per pull of each arm: arm 2 pays most, arm 0 nothing
GAINS = np.array([0.0, 0.0002, 0.001, 0.0004])


def _run(spaces_for, obs, gains, steps, seed=0, start=0.1, **options):
    """Step the agent against a scripted student: arm i's accuracy rises by gains(t)[i] per pull.

    Returns the agent, the policy after every act (rows) and the actions."""
    agent = Exp3SAgent(*spaces_for(N), **options)
    agent.reset(seed=seed)
    accuracy = np.full(N, start)
    policies, actions = [], []
    for t in range(steps):
        action = agent.act(obs(accuracy), {})
        actions.append(action)
        policies.append(agent.policy())
        counts = action / action.sum() * agent.pulls
        accuracy = np.clip(accuracy + gains(t) * counts, 0.0, 1.0)
    return agent, np.array(policies), actions


def test_the_policy_starts_uniform(spaces_for):
    agent = Exp3SAgent(*spaces_for(N))
    agent.reset(seed=0)
    assert np.allclose(agent.policy(), 1 / N)


def test_the_action_is_the_histogram_of_the_pulls(spaces_for, obs):
    agent = Exp3SAgent(*spaces_for(N), pulls=8)
    agent.reset(seed=0)
    for _ in range(10):
        action = agent.act(obs([0.1] * N), {})
        counts = action / action.sum() * 8
        assert np.allclose(counts, np.round(counts))
        assert np.all(action >= 0)


def test_the_arm_that_pays_most_gains_weight_over_time(spaces_for, obs):
    _, policies, _ = _run(spaces_for, obs, lambda t: GAINS, steps=60)
    assert policies[0][2] == pytest.approx(1 / N)
    assert np.argmax(policies[-1]) == 2
    assert policies[-1][2] > 0.6
    assert policies[-1][0] < 0.1  # the arm that never pays is left to exploration


def test_it_moves_to_an_arm_whose_payoff_rises_late(spaces_for, obs):
    late = lambda t: np.array([0.001, 0, 0, 0]) if t < 40 else np.array([0, 0, 0, 0.001])  # noqa: E731
    _, policies, _ = _run(spaces_for, obs, late, steps=100)
    assert np.argmax(policies[39]) == 0
    assert np.argmax(policies[-1]) == 3
    assert policies[-1][3] > 0.6


def test_no_progress_anywhere_leaves_the_policy_uniform(spaces_for, obs):
    agent, policies, _ = _run(spaces_for, obs, lambda t: np.zeros(N), steps=20)
    assert np.allclose(policies, 1 / N)


def test_rewards_are_rescaled_by_quantiles_so_their_scale_does_not_matter(spaces_for, obs):
    # Halving every accuracy halves every reward (exactly, in floating point); the quantile
    # rescaling to [-1, 1] makes the two runs identical choice for choice.
    a, policies_a, actions_a = _run(spaces_for, obs, lambda t: GAINS, steps=40, start=0.1)
    b, policies_b, actions_b = _run(spaces_for, obs, lambda t: GAINS / 2, steps=40, start=0.05)
    assert np.array_equal(policies_a, policies_b)
    assert all(np.array_equal(x, y) for x, y in zip(actions_a, actions_b))
    assert np.allclose(np.array(a.reward_history) / 2, b.reward_history)
    # A non-power-of-two scale agrees up to rounding.
    _, policies_c, _ = _run(spaces_for, obs, lambda t: GAINS * 0.3, steps=40, start=0.03)
    assert np.allclose(policies_a, policies_c, atol=1e-6)


def test_a_reward_above_the_80th_percentile_counts_as_plus_one_however_large(spaces_for, obs):
    def policy_after_jump(jump):
        agent = Exp3SAgent(*spaces_for(N))
        agent.reset(seed=0)
        accuracy = np.full(N, 0.1)
        for t in range(15):
            action = agent.act(obs(accuracy), {})
            counts = action / action.sum() * agent.pulls
            accuracy = accuracy + GAINS * counts
        pulled = int(np.argmax(action))
        accuracy[pulled] += jump  # one outsized step of progress on a pulled arm
        agent.act(obs(accuracy), {})
        return agent.policy()

    assert np.array_equal(policy_after_jump(0.05), policy_after_jump(0.5))


def test_exploration_keeps_every_probability_above_epsilon_over_n(spaces_for, obs):
    epsilon = 0.1
    _, policies, actions = _run(spaces_for, obs, lambda t: GAINS, steps=150, epsilon=epsilon)
    assert policies.min() >= epsilon / N - 1e-12
    pulled = np.sum([a > 0 for a in actions], axis=0)
    assert np.all(pulled > 0)  # every arm is tried over many draws


def test_fixed_share_mixing_keeps_a_floor_without_epsilon(spaces_for, obs):
    # With epsilon=0 only the share term alpha protects the losing arms. EXP3.S's mixing gives
    # each arm at least alpha * (1 - its pre-mix share) / (N - 1) of the weight.
    alpha = 0.05
    _, mixed, _ = _run(spaces_for, obs, lambda t: GAINS, steps=150, epsilon=0.0, alpha=alpha)
    assert mixed.min() >= alpha / (2 * (N - 1))
    # Without it (plain EXP3 weights) the losing arms' probability collapses towards zero.
    _, plain, _ = _run(spaces_for, obs, lambda t: GAINS, steps=100, epsilon=0.0, alpha=0.0)
    assert plain[-1].min() < 1e-4


def test_macro_signal_rewards_pulled_arms_with_the_env_reward(spaces_for, obs):
    agent = Exp3SAgent(*spaces_for(N), signal="macro")
    agent.reset(seed=0)
    agent.act(obs([0.1, 0.1, 0.1, 0.1]), {})
    pulled = int(np.count_nonzero(agent.last_counts))
    agent.act(obs([0.1, 0.1, 0.5, 0.1]), {})  # macro accuracy rose by 0.1
    assert agent.reward_history == pytest.approx([0.1] * pulled)


def test_same_seed_same_choices_and_different_seed_different(spaces_for, obs):
    _, _, a = _run(spaces_for, obs, lambda t: GAINS, steps=30, seed=5)
    _, _, b = _run(spaces_for, obs, lambda t: GAINS, steps=30, seed=5)
    _, _, c = _run(spaces_for, obs, lambda t: GAINS, steps=30, seed=6)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_reset_forgets_the_weights(spaces_for, obs):
    agent, _, _ = _run(spaces_for, obs, lambda t: GAINS, steps=30)
    assert not np.allclose(agent.policy(), 1 / N)
    agent.reset(seed=0)
    assert np.allclose(agent.policy(), 1 / N)
    assert agent.reward_history == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"signal": "loss"}, r"Expected signal 'skill' or 'macro', got 'loss'\."),
        ({"pulls": 0}, r"Expected pulls >= 1, got 0\."),
    ],
)
def test_bad_options_raise(spaces_for, options, message):
    with pytest.raises(ValueError, match=message):
        Exp3SAgent(*spaces_for(N), **options)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"epsilon": 1.5}, r"Expected epsilon in \[0, 1\], got 1\.5\."),
        ({"epsilon": -0.1}, r"Expected epsilon in \[0, 1\], got -0\.1\."),
        ({"alpha": 1.5}, r"Expected alpha in \[0, 1\], got 1\.5\."),
        ({"alpha": -0.1}, r"Expected alpha in \[0, 1\], got -0\.1\."),
    ],
)
def test_probabilities_out_of_range_are_rejected_when_built(spaces_for, options, message):
    # BUG: epsilon and alpha are not validated (LearningProgressAgent validates its epsilon).
    # epsilon=1.5 silently inverts the policy (the best arm gets the least); alpha=-0.1 makes
    # the mixed weights negative, log_w NaN, and act() dies in numpy's multinomial.
    with pytest.raises(ValueError, match=message):
        Exp3SAgent(*spaces_for(N), **options)
