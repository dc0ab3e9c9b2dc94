"""The zone-of-proximal-development teacher: placement step, then the easiest unmastered skills."""

from __future__ import annotations

import numpy as np
import pytest

from datagym.agents.proximal_skill import ProximalSkillAgent


def _agent(spaces_for, n=5, seed=0, **options):
    agent = ProximalSkillAgent(*spaces_for(n), **options)
    agent.reset(seed)
    return agent


def test_first_step_is_a_placement_step_over_every_skill(spaces_for, obs):
    action = _agent(spaces_for).act(obs([0.0] * 5, loss=[3, 1, 2, 5, 4]), {})
    assert np.all(action == 1.0)


def test_then_the_k_lowest_loss_skills_that_are_not_mastered(spaces_for, obs):
    agent = _agent(spaces_for, k=2, mastery=0.9)
    # Skill 1 has the lowest loss but is mastered; skills 2 and 0 are next.
    o = obs([0.1, 0.95, 0.3, 0.0, 0.0], examples_seen=[10] * 5, loss=[1.5, 0.1, 1.0, 4.0, 3.0])
    np.testing.assert_array_equal(agent.act(o, {}), [1, 0, 1, 0, 0])


def test_everything_mastered_falls_back_to_uniform(spaces_for, obs):
    agent = _agent(spaces_for, k=2)
    o = obs([0.95] * 5, examples_seen=[10] * 5)
    assert np.all(agent.act(o, {}) == 1.0)


def test_fewer_open_skills_than_k_gives_data_to_all_of_them(spaces_for, obs):
    agent = _agent(spaces_for, k=3)
    o = obs([0.95, 0.95, 0.95, 0.2, 0.1], examples_seen=[10] * 5)
    np.testing.assert_array_equal(agent.act(o, {}), [0, 0, 0, 1, 1])


def test_equal_losses_break_ties_by_seed(spaces_for, obs):
    o = obs([0.0] * 5, examples_seen=[1] * 5, loss=[1.0] * 5)
    picks = {tuple(_agent(spaces_for, k=1, seed=s).act(o, {})) for s in range(20)}
    assert len(picks) > 1


def test_default_k_is_a_third_of_the_skills(spaces_for):
    assert ProximalSkillAgent(*spaces_for(15)).k == 5


@pytest.mark.parametrize(
    "options, message",
    [({"k": 0}, r"Expected k in \[1, 5\], got 0\."), ({"mastery": 0.0}, r"Expected mastery in \(0, 1\], got 0\.0\.")],
)
def test_bad_options_raise(spaces_for, options, message):
    with pytest.raises(ValueError, match=message):
        ProximalSkillAgent(*spaces_for(5), **options)


def test_uniform_share_tilts_instead_of_switching(spaces_for, obs):
    agent = _agent(spaces_for, k=2, mastery=0.9, uniform_share=0.5)
    o = obs([0.1, 0.95, 0.3, 0.0, 0.0], examples_seen=[10] * 5, loss=[1.5, 0.1, 1.0, 4.0, 3.0])
    # half the step spread over all 5 skills (0.1 each), the other half over the 2 chosen (0.25 each)
    np.testing.assert_allclose(agent.act(o, {}), [0.35, 0.1, 0.35, 0.1, 0.1], rtol=1e-6)


@pytest.mark.parametrize("share", [-0.1, 1.5, True, "half"])
def test_uniform_share_must_be_a_share(spaces_for, share):
    with pytest.raises(ValueError, match=r"Expected uniform_share a number in \[0, 1\]"):
        _agent(spaces_for, uniform_share=share)
