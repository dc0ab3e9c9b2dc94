"""ALP-GMM (Portelas et al. 2019) over (skill, difficulty): ALP as the paper defines it, the
mixture fitted per skill with k chosen by AIC/BIC and refitted on schedule, draws in proportion
to mean ALP with the random share and the bootstrap respected, and on a scripted student most
draws go where it improves. Also the small EM it fits with."""

from __future__ import annotations

import json
import logging
import pickle
import re

import numpy as np
import pytest
from gymnasium import spaces

from datagym.agents import make_agent
from datagym.agents.alp_gmm import ALPGMMAgent
from datagym.agents.gaussian_mixture import fit_mixture
from datagym.envs.skill_list_env import DIFFICULTY_BANDS, difficulty_band

BANDS = DIFFICULTY_BANDS


def control_spaces(n: int) -> tuple[spaces.Dict, spaces.Dict]:
    box = spaces.Box(0.0, 1.0, shape=(n,), dtype=np.float32)
    grid = (n, BANDS)
    observation = spaces.Dict(
        {
            "accuracy": box,
            "examples_seen": spaces.Box(0.0, 1e4, shape=(n,), dtype=np.float32),
            "budget_left": spaces.Box(0.0, 1e4, shape=(1,), dtype=np.float32),
            "loss": spaces.Box(0.0, 100.0, shape=(n,), dtype=np.float32),
            "accuracy_by_difficulty": spaces.Box(0.0, 1.0, shape=grid, dtype=np.float32),
            "loss_by_difficulty": spaces.Box(0.0, 100.0, shape=grid, dtype=np.float32),
        }
    )
    return spaces.Dict({"weights": box, "difficulty": box}), observation


def band_observation(competence: np.ndarray) -> dict[str, np.ndarray]:
    """An observation whose per-band likelihood exp(-loss) and accuracy are ``competence``."""
    competence = np.clip(np.asarray(competence, dtype=np.float64), 1e-6, 1.0)
    loss = -np.log(competence)
    return {
        "accuracy": competence.mean(axis=1).astype(np.float32),
        "examples_seen": np.zeros(competence.shape[0], np.float32),
        "budget_left": np.array([100.0], np.float32),
        "loss": loss.mean(axis=1).astype(np.float32),
        "accuracy_by_difficulty": competence.astype(np.float32),
        "loss_by_difficulty": loss.astype(np.float32),
    }


class ScriptedStudent:
    """Competence per (skill, band) that rises only where ``learnable`` says, by ``rate`` times
    the share of the step's draws that trained that skill at a difficulty in that band."""

    def __init__(self, learnable: np.ndarray, start: float = 0.02, rate: float = 0.5) -> None:
        self.learnable = np.asarray(learnable, dtype=bool)
        self.competence = np.full(self.learnable.shape, start)
        self.rate = rate

    def train(self, action: dict) -> None:
        for skill in np.flatnonzero(action["weights"]):
            band = difficulty_band(float(action["difficulty"][skill]))
            if self.learnable[skill, band]:
                gain = self.rate * float(action["weights"][skill]) / float(action["weights"].sum())
                self.competence[skill, band] = min(1.0, self.competence[skill, band] + gain)


def _run(agent: ALPGMMAgent, student: ScriptedStudent, steps: int) -> list[list[tuple[int, float, str]]]:
    """Drive ``agent`` against ``student`` for ``steps`` steps; the draws of each step."""
    draws = []
    for _ in range(steps):
        action = agent.act(band_observation(student.competence), {})
        draws.append(agent.last_draws)
        student.train(action)
    return draws


# -- options --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "options, message",
    [
        ({"draws": 0}, "Expected draws to be an integer >= 1, got 0."),
        ({"random_share": 1.5}, "Expected random_share in [0, 1], got 1.5."),
        ({"bootstrap_steps": -1}, "Expected bootstrap_steps to be an integer >= 0, got -1."),
        ({"fit_every": 0}, "Expected fit_every to be an integer >= 1, got 0."),
        ({"fit_window": 0}, "Expected fit_window to be an integer >= 1, got 0."),
        ({"max_components": 2.5}, "Expected max_components to be an integer >= 1, got 2.5."),
        ({"criterion": "aicc"}, "Expected criterion 'aic' or 'bic', got 'aicc'."),
        ({"competence": "loss"}, "Expected competence 'likelihood' or 'accuracy', got 'loss'."),
        ({"reg_covar": 0.0}, "Expected a positive reg_covar, got 0.0."),
    ],
)
def test_bad_options_are_refused(options, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ALPGMMAgent(*control_spaces(3), **options)


def test_registered_for_the_skill_list_level(skill_list_env):
    agent = make_agent("alp_gmm", skill_list_env, draws=4)
    assert isinstance(agent, ALPGMMAgent) and agent.levels == ("skill_list",) and agent.draws == 4


# -- competence and ALP ---------------------------------------------------------------------
def test_competence_is_the_band_likelihood_interpolated_between_band_centres():
    agent = ALPGMMAgent(*control_spaces(2))
    competence = np.array([[0.1, 0.2, 0.4, 0.8], [0.5, 0.5, 0.5, 0.5]])
    scores = agent.competence_map(band_observation(competence))
    np.testing.assert_allclose(scores, competence, rtol=1e-5)
    assert agent.competence_at(scores, 0, 0.125) == pytest.approx(0.1, rel=1e-5)
    assert agent.competence_at(scores, 0, 0.25) == pytest.approx(0.15, rel=1e-5)
    assert agent.competence_at(scores, 0, 0.0) == pytest.approx(0.1, rel=1e-5)  # flat past the centres
    assert agent.competence_at(scores, 0, 1.0) == pytest.approx(0.8, rel=1e-5)
    accuracy = ALPGMMAgent(*control_spaces(2), competence="accuracy")
    observation = band_observation(competence)
    observation["accuracy_by_difficulty"] = np.full((2, BANDS), 0.25, np.float32)
    np.testing.assert_allclose(accuracy.competence_map(observation), 0.25)


def test_alp_is_the_change_since_the_nearest_earlier_point_of_the_same_skill():
    agent = ALPGMMAgent(*control_spaces(3), draws=1)
    agent.reset(seed=0)
    agent.points = {"skill": [0, 0, 1], "difficulty": [0.2, 0.8, 0.5], "competence": [0.3, 0.6, 0.9],
                    "alp": [0.1, 0.1, 0.1], "step": [0, 1, 1]}
    agent.steps = 3
    # Trained last step: skill 0 at 0.3 (nearest earlier: 0.2, competence 0.3) and skill 2
    # (never sampled: compared with its competence there before the step, 0.05).
    agent.pending = [[0, 0.3, 0.0], [2, 0.6, 0.05]]
    competence = np.full((3, BANDS), 0.5)
    competence[2] = 0.25
    agent.act(band_observation(competence), {})
    assert agent.points["skill"][3:] == [0, 2]
    np.testing.assert_allclose(agent.points["competence"][3:], [0.5, 0.25], rtol=1e-5)
    np.testing.assert_allclose(agent.points["alp"][3:], [0.2, 0.2], rtol=1e-4)
    assert agent.points["step"][3:] == [2, 2]


def test_equally_near_earlier_points_resolve_to_the_latest():
    agent = ALPGMMAgent(*control_spaces(1), draws=1)
    agent.reset(seed=0)
    agent.points = {"skill": [0, 0], "difficulty": [0.4, 0.6], "competence": [0.1, 0.4],
                    "alp": [0.0, 0.0], "step": [0, 1]}
    agent.steps = 2
    agent.pending = [[0, 0.5, 0.0]]
    agent.act(band_observation(np.full((1, BANDS), 0.5)), {})
    assert agent.points["alp"][-1] == pytest.approx(0.1, rel=1e-4)  # against 0.4 (step 1), not 0.1


def test_each_step_trains_the_points_it_drew_and_measures_them_next_step():
    agent = ALPGMMAgent(*control_spaces(4), draws=6, bootstrap_steps=5)
    agent.reset(seed=2)
    start = np.full((4, BANDS), 0.1)
    action = agent.act(band_observation(start), {})
    drawn = sorted({s for s, _, _ in agent.last_draws})
    assert np.flatnonzero(action["weights"]).tolist() == drawn
    assert action["weights"].sum() == pytest.approx(1.0)
    assert len(drawn) < 6  # some skill was drawn more than once
    for skill in drawn:  # a skill drawn several times is generated at its first draw's difficulty
        first = next(d for s, d, _ in agent.last_draws if s == skill)
        assert action["difficulty"][skill] == pytest.approx(first, abs=1e-6)
    assert agent.points["skill"] == []
    agent.act(band_observation(start + 0.2), {})
    assert sorted(agent.points["skill"]) == drawn
    np.testing.assert_allclose(agent.points["alp"], 0.2, rtol=1e-4)


# -- the mixture ----------------------------------------------------------------------------
def _points(agent, rows):
    agent.points = {"skill": [], "difficulty": [], "competence": [], "alp": [], "step": []}
    for skill, difficulty, alp in rows:
        for key, value in (("skill", skill), ("difficulty", difficulty), ("competence", 0.5), ("alp", alp), ("step", 0)):
            agent.points[key].append(value)


def test_aic_picks_two_gaussians_for_two_clusters_in_one_skill_and_each_stays_in_its_skill():
    agent = ALPGMMAgent(*control_spaces(3), fit_window=None)
    agent.reset(seed=0)
    rng = np.random.default_rng(1)
    rows = [(1, float(d), float(a)) for d, a in zip(rng.normal(0.15, 0.03, 15), rng.normal(0.5, 0.02, 15))]
    rows += [(1, float(d), float(a)) for d, a in zip(rng.normal(0.85, 0.03, 15), rng.normal(0.01, 0.005, 15))]
    rows += [(2, 0.5, 0.0)]
    _points(agent, rows)
    agent.steps = 1
    agent.fit()
    by_skill = {}
    for skill, mean, var, alp in agent.components:
        by_skill.setdefault(skill, []).append((mean, var, alp))
    assert sorted(by_skill) == [1, 2]  # skill 0 has no point, so no Gaussian
    assert len(by_skill[1]) == 2
    (low_d, _, low_alp), (high_d, _, high_alp) = sorted(by_skill[1])
    assert low_d == pytest.approx(0.15, abs=0.03) and low_alp == pytest.approx(0.5, abs=0.03)
    assert high_d == pytest.approx(0.85, abs=0.03) and high_alp == pytest.approx(0.01, abs=0.02)
    # A skill's single point is a single Gaussian at that point with the covariance floor.
    [(mean, var, alp)] = by_skill[2]
    assert (mean, alp) == (pytest.approx(0.5), pytest.approx(0.0, abs=1e-9)) and var == pytest.approx(1e-3)
    # Draws pick Gaussians in proportion to mean ALP: nearly all from the high-ALP cluster.
    agent.random_share = 0.0
    agent.steps = agent.bootstrap_steps  # past the bootstrap
    draws = [agent._draw() for _ in range(400)]
    assert all(kind == "gmm" and skill == 1 for skill, _, kind in draws)
    assert np.mean([d < 0.5 for _, d, _ in draws]) > 0.9


def test_bic_penalises_components_more_than_aic():
    rng = np.random.default_rng(0)
    rows = [(0, float(d), float(a)) for d, a in zip(rng.random(12), rng.random(12) * 0.1)]
    counts = {}
    for criterion in ("aic", "bic"):
        agent = ALPGMMAgent(*control_spaces(1), criterion=criterion, max_components=6, fit_window=None)
        agent.reset(seed=0)
        _points(agent, rows)
        agent.steps = 1
        agent.fit()
        counts[criterion] = len(agent.components)
    assert 1 <= counts["bic"] <= counts["aic"]


def test_refits_happen_on_schedule_and_only_then():
    agent = ALPGMMAgent(*control_spaces(4), draws=6, bootstrap_steps=2, fit_every=3)
    agent.reset(seed=0)
    student = ScriptedStudent(np.ones((4, BANDS), bool), rate=0.05)
    seen = []
    for step in range(12):
        agent.act(band_observation(student.competence), {})
        seen.append(list(agent.components))
        if step >= 1:
            student.train({"weights": np.ones(4), "difficulty": np.full(4, 0.5)})
    assert agent.fit_steps == [2, 5, 8, 11]
    for step in range(12):
        if step not in agent.fit_steps and step > 0:
            assert seen[step] == seen[step - 1], f"the mixture changed at step {step} without a fit"


def test_the_fit_window_keeps_only_recent_steps():
    agent = ALPGMMAgent(*control_spaces(2), fit_window=2)
    agent.reset(seed=0)
    _points(agent, [(0, 0.5, 0.9)])
    agent.points["step"] = [0]
    agent.points["skill"].append(1), agent.points["difficulty"].append(0.5), agent.points["competence"].append(0.5)
    agent.points["alp"].append(0.1), agent.points["step"].append(3)
    agent.steps = 4
    agent.fit()
    assert [c[0] for c in agent.components] == [1]  # skill 0's only point is from step 0, too old


# -- draws: bootstrap and random share ------------------------------------------------------
def test_bootstrap_draws_are_random_then_the_random_share_is_respected():
    agent = ALPGMMAgent(*control_spaces(5), draws=10, bootstrap_steps=3, random_share=0.2)
    agent.reset(seed=0)
    student = ScriptedStudent(np.ones((5, BANDS), bool), rate=0.02)
    steps = _run(agent, student, 103)
    assert all(kind == "bootstrap" for step in steps[:3] for *_, kind in step)
    later = [kind for step in steps[3:] for *_, kind in step]
    assert set(later) == {"random", "gmm"}
    share = later.count("random") / len(later)  # 1000 draws: 0.2 +- 0.013 (one s.d.)
    assert 0.15 < share < 0.25, share


@pytest.mark.parametrize("share, kinds", [(0.0, {"gmm"}), (1.0, {"random"})])
def test_random_share_at_its_limits(share, kinds):
    agent = ALPGMMAgent(*control_spaces(3), draws=8, bootstrap_steps=1, random_share=share)
    agent.reset(seed=0)
    steps = _run(agent, ScriptedStudent(np.ones((3, BANDS), bool), rate=0.02), 6)
    assert {kind for step in steps[1:] for *_, kind in step} == kinds


# -- the paper's behaviour on a scripted student --------------------------------------------
def test_after_the_bootstrap_most_draws_go_to_the_skill_that_improves():
    learnable = np.zeros((6, BANDS), bool)
    learnable[3] = True  # skill 3 improves at every difficulty; the other five never do
    agent = ALPGMMAgent(*control_spaces(6), draws=8, bootstrap_steps=2)
    agent.reset(seed=0)
    steps = _run(agent, ScriptedStudent(learnable, rate=0.15), 10)
    later = [skill for step in steps[2:] for skill, _, _ in step]
    share = later.count(3) / len(later)
    assert share > 0.6, share  # uniform would give 1/6
    gmm_draws = [skill for step in steps[2:] for skill, _, kind in step if kind == "gmm"]
    assert gmm_draws.count(3) / len(gmm_draws) > 0.75


def test_within_a_skill_draws_go_to_the_difficulties_where_it_improves():
    learnable = np.zeros((2, BANDS), bool)
    learnable[0, :2] = True  # skill 0 improves on easy problems only; hard ones are hopeless
    agent = ALPGMMAgent(*control_spaces(2), draws=8, bootstrap_steps=2)
    agent.reset(seed=3)
    steps = _run(agent, ScriptedStudent(learnable, rate=0.1), 12)
    gmm = [(skill, d) for step in steps[2:] for skill, d, kind in step if kind == "gmm"]
    assert np.mean([skill == 0 for skill, _ in gmm]) > 0.7
    assert np.mean([d < 0.5 for skill, d in gmm if skill == 0]) > 0.7


def test_a_mastered_skill_loses_the_draws_to_one_still_improving():
    # Skill 0 is mastered from the start (flat at 1.0); skill 1 keeps improving.
    learnable = np.zeros((2, BANDS), bool)
    learnable[1] = True
    student = ScriptedStudent(learnable, rate=0.05)
    student.competence[0] = 1.0
    agent = ALPGMMAgent(*control_spaces(2), draws=8, bootstrap_steps=2)
    agent.reset(seed=1)
    steps = _run(agent, student, 10)
    gmm = [skill for step in steps[2:] for skill, _, kind in step if kind == "gmm"]
    assert gmm.count(1) / len(gmm) > 0.8


# -- determinism and state ------------------------------------------------------------------
def _actions(agent, seed, steps=8):
    agent.reset(seed=seed)
    student = ScriptedStudent(np.eye(4, BANDS, dtype=bool) | np.eye(4, BANDS, k=1, dtype=bool), rate=0.2)
    out = []
    for _ in range(steps):
        action = agent.act(band_observation(student.competence), {})
        out.append(action)
        student.train(action)
    return out


def test_same_seed_same_choices_different_seed_different_choices():
    a, b = ALPGMMAgent(*control_spaces(4)), ALPGMMAgent(*control_spaces(4))
    first, again = _actions(a, 5), _actions(b, 5)
    for x, y in zip(first, again):
        np.testing.assert_array_equal(x["weights"], y["weights"])
        np.testing.assert_array_equal(x["difficulty"], y["difficulty"])
    assert a.components == b.components and a.points == b.points
    other = _actions(ALPGMMAgent(*control_spaces(4)), 6)
    assert any(not np.array_equal(x["difficulty"], y["difficulty"]) for x, y in zip(first, other))


@pytest.mark.parametrize("via", ["json", "pickle"])
def test_state_mid_episode_continues_exactly(via):
    agent = ALPGMMAgent(*control_spaces(4))
    agent.reset(seed=9)
    student = ScriptedStudent(np.ones((4, BANDS), bool), rate=0.1)
    for _ in range(4):  # past the bootstrap, with a fitted mixture
        student.train(agent.act(band_observation(student.competence), {}))
    assert agent.components and agent.fit_steps
    if via == "json":
        clone = ALPGMMAgent(*control_spaces(4))
        clone.reset(seed=0)
        clone.load_state_dict(json.loads(json.dumps(agent.state_dict())))
    else:
        clone = pickle.loads(pickle.dumps(agent))
    for _ in range(4):
        observation = band_observation(student.competence)
        mine, theirs = agent.act(observation, {}), clone.act(observation, {})
        np.testing.assert_array_equal(mine["weights"], theirs["weights"])
        np.testing.assert_array_equal(mine["difficulty"], theirs["difficulty"])
        student.train(mine)
    assert clone.state_dict() == agent.state_dict()


# -- without difficulty control -------------------------------------------------------------
def test_without_difficulty_control_it_samples_skills_by_alp_and_says_so(spaces_for, obs, caplog):
    with caplog.at_level(logging.WARNING, logger="datagym.agents.alp_gmm"):
        agent = ALPGMMAgent(*spaces_for(4), draws=8, bootstrap_steps=2)
    assert "without difficulty control" in caplog.text
    agent.reset(seed=0)
    accuracy = np.zeros(4)
    kinds = []
    for _ in range(10):
        loss = np.where(np.arange(4) == 2, 3.0 - 2.5 * accuracy, 3.0).astype(np.float32)
        action = agent.act(obs(accuracy, loss=loss), {})
        assert isinstance(action, np.ndarray) and action.shape == (4,)
        kinds += [(skill, kind) for skill, _, kind in agent.last_draws]
        accuracy[2] = min(1.0, accuracy[2] + 0.1 * action[2] * 4)  # only skill 2 is learnable
    gmm = [skill for skill, kind in kinds if kind == "gmm"]
    assert gmm and gmm.count(2) / len(gmm) > 0.6


# -- the EM ---------------------------------------------------------------------------------
def test_fit_mixture_recovers_separated_clusters_and_is_deterministic():
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal([0.1, 0.5], 0.03, (20, 2)), rng.normal([0.9, 0.0], 0.03, (20, 2))])
    fits = {k: fit_mixture(x, k, np.random.default_rng(7), reg_covar=1e-3) for k in (1, 2, 3)}
    assert min(fits, key=lambda k: fits[k].aic()) == 2
    assert min(fits, key=lambda k: fits[k].bic()) == 2
    means = sorted(map(tuple, fits[2].means.round(1)))
    assert means == [(0.1, 0.5), (0.9, 0.0)]
    np.testing.assert_allclose(fits[2].weights.sum(), 1.0)
    again = fit_mixture(x, 2, np.random.default_rng(7), reg_covar=1e-3)
    np.testing.assert_array_equal(again.means, fits[2].means)
    assert fits[2].n_parameters == 1 + 2 * 2 + 2 * 3


def test_fit_mixture_agrees_with_scikit_learn():
    from sklearn import mixture  # a dev dependency: the reference implementation

    rng = np.random.default_rng(3)
    x = np.vstack([rng.normal([0.2, 0.3], 0.05, (25, 2)), rng.normal([0.7, 0.05], 0.05, (25, 2))])
    for k in (1, 2):
        ours = fit_mixture(x, k, np.random.default_rng(0), reg_covar=1e-3)
        theirs = mixture.GaussianMixture(k, reg_covar=1e-3, random_state=0).fit(x)
        assert ours.aic() == pytest.approx(theirs.aic(x), rel=1e-3)
        assert ours.bic() == pytest.approx(theirs.bic(x), rel=1e-3)


@pytest.mark.parametrize("k, message", [(0, "Expected 1 <= k <= 3"), (4, "Expected 1 <= k <= 3 (the number of points), got 4.")])
def test_fit_mixture_refuses_more_components_than_points(k, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        fit_mixture(np.zeros((3, 2)), k, np.random.default_rng(0))
