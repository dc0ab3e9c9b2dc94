"""ALP-GMM after Portelas et al., "Teacher algorithms for curriculum learning of Deep RL in
continuously parameterized environments" (CoRL 2019).

ALP-GMM samples tasks from a continuous parameter space where the student's *absolute
learning progress* (ALP) is high. For every task it trains on, it measures the student's
competence there and compares it with the competence recorded at the nearest task sampled
before: ``ALP = |competence now - competence at the nearest previous point|``. Gaussian
mixtures are fitted on (task parameters, ALP) points and refitted periodically, the number of
Gaussians chosen by AIC (or BIC) over a range; a task is drawn by picking a Gaussian with
probability proportional to its mean ALP and sampling the task parameters from it. A share of
draws (20% in the paper) is uniformly random, and the first draws (the bootstrap) are all
random.

**The task space here is (skill, difficulty)**: the Skill-List env with
``difficulty_control=True`` sets a difficulty in [0, 1] per skill. The skill is categorical, so
there is no meaningful distance between two skills and a Gaussian must not straddle them
(skills next to each other in ``skill_names`` are not alike). The space is therefore the
disjoint union of one difficulty interval per skill, and every Gaussian lives in one skill:
a mixture over (difficulty, ALP) is fitted per skill, with its own number of components
chosen by AIC/BIC. This is the AIC-optimal mixture of the whole space among mixtures whose
components stay inside one skill (EM never gives a point responsibility in another skill,
and the criterion adds up over skills). Drawing a task picks one Gaussian among *all* skills'
components in proportion to its mean ALP, so the choice of skill and of difficulty is one
draw, as in the paper. The nearest previous point is the nearest in difficulty *within the
same skill* (ties go to the most recent); a skill's first point, which has none, is compared
with the competence measured at its difficulty just before that step (the env measures every
skill at every step, which the paper's environments cannot).

**Competence** at (skill, difficulty) comes from the observation's per-difficulty-band scores,
linearly interpolated between band centres: by default ``exp(-loss)`` in the band
(``competence="likelihood"``), the geometric-mean probability the student gives each gold answer
token. It lies in [0, 1] like the paper's normalised return, and it is graded: exact-match
accuracy stays at zero for a skill that is about to click and for a hopeless one alike (the
benchmarks found the graded loss is what lets a teacher tell them apart), while ``exp(-loss)``
shows the first one rising. A rise in a hopeless skill's loss (training other skills raises it
by a few nats) barely moves ``exp(-loss)``, so it is not mistaken for progress.
``competence="accuracy"`` uses the band's exact-match accuracy instead.

**Steps and draws.** One env step takes a whole allocation, so each step makes ``draws`` task
draws; the budget is split by how many draws each skill got, and a skill drawn more than once
is generated at the difficulty of its first draw (the env takes one difficulty per skill per
step; the mean of several draws would pull random draws towards the middle of the range, where
the extremes would never be tried). Each (skill, difficulty) trained in a step becomes one point, measured on the next
observation. The mixtures are fitted on the points of the last ``fit_window`` steps (the paper
fits on the tasks since its last fit, so regions not sampled lately lose their Gaussians and
only random draws find them again), every ``fit_every`` steps after ``bootstrap_steps``
steps of random draws.

**Without difficulty control** (the default env) the task space is the skills alone: each
skill's mixture is fitted on its ALP values only and a draw picks a skill in proportion to the
mean ALP of its Gaussians. That is the paper's algorithm on a space with no continuous
dimension, close to ``learning_progress`` with ``temperature=None``; the agent logs a warning
because the continuous part, ALP-GMM's point, is missing.

The fits use ``datagym.agents.gaussian_mixture.fit_mixture`` (EM with full covariances and
k-means++ seeding, as scikit-learn's ``GaussianMixture``, in plain numpy and much faster on a
few points) with draws from the agent's generator, so a seed fixes every choice; the fitted
Gaussians are kept as plain numbers, so the state saves as JSON and pickles.

Args:
    draws: task draws per step; the step's budget is split by their histogram over skills.
    random_share: probability that a draw after the bootstrap is uniformly random (paper: 0.2).
    bootstrap_steps: steps whose draws are all random before the first fit (the paper's
        bootstrap of random tasks).
    fit_every: refit the mixtures every this many steps after the bootstrap.
    fit_window: fit on the points of this many most recent steps (None: all of the episode).
    max_components: the largest number of Gaussians tried per skill (from 1, and at most the
        number of distinct points of that skill); the paper tries 2 to 10 on thousands of tasks.
    criterion: "aic" (the paper's) or "bic", to choose the number of Gaussians.
    competence: "likelihood" (exp(-loss) in the difficulty band) or "accuracy".
    reg_covar: added to the covariances' diagonal. Larger than scikit-learn's default 1e-6 because
        the mixtures are fitted on a handful of points, not thousands: it keeps a Gaussian
        fitted on one point from collapsing to a spike (1e-3 is a standard deviation of
        about 0.03 in difficulty).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from datagym.agents.base import SkillListAgent
from datagym.agents.gaussian_mixture import fit_mixture

logger = logging.getLogger(__name__)

#: how each draw of the last step was made: "bootstrap", "random" or "gmm"
DRAW_KINDS = ("bootstrap", "random", "gmm")


class ALPGMMAgent(SkillListAgent):
    def __init__(
        self,
        action_space,
        observation_space,
        draws: int = 8,
        random_share: float = 0.2,
        bootstrap_steps: int = 2,
        fit_every: int = 1,
        fit_window: int | None = 3,
        max_components: int = 4,
        criterion: str = "aic",
        competence: str = "likelihood",
        reg_covar: float = 1e-3,
    ) -> None:
        super().__init__(action_space, observation_space)

        def positive_int(name: str, value: Any, low: int = 1) -> None:
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"Expected {name} to be an integer >= {low}, got {value!r}.")

        positive_int("draws", draws)
        positive_int("bootstrap_steps", bootstrap_steps, low=0)
        positive_int("fit_every", fit_every)
        positive_int("max_components", max_components)
        if fit_window is not None:
            positive_int("fit_window", fit_window)
        if not (isinstance(random_share, (int, float)) and 0.0 <= random_share <= 1.0):
            raise ValueError(f"Expected random_share in [0, 1], got {random_share!r}.")
        if criterion not in ("aic", "bic"):
            raise ValueError(f"Expected criterion 'aic' or 'bic', got {criterion!r}.")
        if competence not in ("likelihood", "accuracy"):
            raise ValueError(f"Expected competence 'likelihood' or 'accuracy', got {competence!r}.")
        if not (isinstance(reg_covar, (int, float)) and reg_covar > 0):
            raise ValueError(f"Expected a positive reg_covar, got {reg_covar!r}.")
        self.draws, self.random_share, self.bootstrap_steps = draws, float(random_share), bootstrap_steps
        self.fit_every, self.fit_window, self.max_components = fit_every, fit_window, max_components
        self.criterion, self.competence, self.reg_covar = criterion, competence, float(reg_covar)
        if not self.difficulty_control:
            logger.warning(
                "alp_gmm on an env without difficulty control: the task space is the skills alone, "
                "so it samples skills by learning progress without ALP-GMM's continuous part. "
                "Make the env with difficulty_control=True for (skill, difficulty) curricula."
            )
        self._fresh()

    # -- episode state ------------------------------------------------------------------------
    def _fresh(self) -> None:
        self.steps = 0
        #: every measured point of the episode: skill index, difficulty, competence, ALP, step
        self.points: dict[str, list] = {"skill": [], "difficulty": [], "competence": [], "alp": [], "step": []}
        #: what the last action trained: [skill, difficulty, competence there before the step]
        self.pending: list[list[float]] = []
        #: the fitted Gaussians: [skill, mean difficulty, difficulty variance, mean ALP]
        self.components: list[list[float]] = []
        #: the steps (0-based act counts) at which the mixtures were refitted
        self.fit_steps: list[int] = []
        #: how each draw of the last act was made (see DRAW_KINDS), for inspection
        self.last_draws: list[tuple[int, float, str]] = []

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self._fresh()

    # -- competence ---------------------------------------------------------------------------
    def competence_map(self, observation: Any) -> np.ndarray:
        """Competence per (skill, difficulty band), shape (n_skills, bands); one band without
        difficulty control."""
        if self.difficulty_control:
            key = "loss_by_difficulty" if self.competence == "likelihood" else "accuracy_by_difficulty"
        else:
            key = "loss" if self.competence == "likelihood" else "accuracy"
        values = np.asarray(observation[key], dtype=np.float64).reshape(self.n_skills, -1)
        return np.exp(-values) if self.competence == "likelihood" else values

    @staticmethod
    def competence_at(scores: np.ndarray, skill: int, difficulty: float) -> float:
        """Competence of ``skill`` at ``difficulty``: the band scores interpolated between the
        bands' centres (flat beyond the outer centres)."""
        row = scores[skill]
        centres = (np.arange(row.size) + 0.5) / row.size
        return float(np.interp(difficulty, centres, row))

    # -- the loop -----------------------------------------------------------------------------
    def act(self, observation: Any, info: dict[str, Any]) -> Any:
        scores = self.competence_map(observation)
        self._measure(scores)
        if self.steps >= self.bootstrap_steps and (self.steps - self.bootstrap_steps) % self.fit_every == 0:
            self.fit()
        draws = [self._draw() for _ in range(self.draws)]
        self.last_draws = draws

        counts = np.zeros(self.n_skills)
        difficulty = np.full(self.n_skills, self.default_difficulty)
        for skill, level, _ in draws:
            if not counts[skill]:
                difficulty[skill] = level  # a skill's first draw sets its difficulty this step
            counts[skill] += 1
        drawn = np.flatnonzero(counts)
        self.pending = [[int(s), float(difficulty[s]), self.competence_at(scores, s, difficulty[s])] for s in drawn]
        self.steps += 1
        return self.weights(counts / self.draws, difficulty)

    def _measure(self, scores: np.ndarray) -> None:
        """Turn what the last action trained into points: competence now, and its ALP against
        the nearest earlier point of the same skill (or the competence there before)."""
        skills = np.asarray(self.points["skill"], dtype=np.int64)
        difficulties = np.asarray(self.points["difficulty"], dtype=np.float64)
        for skill, difficulty, before in self.pending:
            skill = int(skill)
            now = self.competence_at(scores, skill, difficulty)
            same = np.flatnonzero(skills == skill)
            if same.size:
                distance = np.abs(difficulties[same] - difficulty)
                # the nearest; among equally near ones the latest (argmin takes the first)
                nearest = same[::-1][np.argmin(distance[::-1])]
                reference = float(self.points["competence"][nearest])
            else:
                reference = float(before)
            for key, value in (("skill", skill), ("difficulty", float(difficulty)), ("competence", now),
                               ("alp", abs(now - reference)), ("step", self.steps - 1)):
                self.points[key].append(value)
        self.pending = []

    def fit(self) -> None:
        """Refit the per-skill mixtures on the recent (difficulty, ALP) points."""
        self.fit_steps.append(self.steps)
        step = np.asarray(self.points["step"], dtype=np.int64)
        recent = step >= (self.steps - self.fit_window) if self.fit_window is not None else np.ones(step.size, bool)
        skills = np.asarray(self.points["skill"], dtype=np.int64)[recent]
        difficulty = np.asarray(self.points["difficulty"], dtype=np.float64)[recent]
        alp = np.asarray(self.points["alp"], dtype=np.float64)[recent]
        components: list[list[float]] = []
        for skill in np.unique(skills):
            mine = skills == skill
            data = (np.column_stack([difficulty[mine], alp[mine]]) if self.difficulty_control
                    else alp[mine][:, None])
            # More Gaussians than distinct points only split a point in two.
            distinct = len(np.unique(np.round(data, 12), axis=0))
            fits = [fit_mixture(data, k, self.rng, reg_covar=self.reg_covar)
                    for k in range(1, min(self.max_components, distinct) + 1)]
            best = min(fits, key=lambda f: f.aic() if self.criterion == "aic" else f.bic())
            components.extend(self._component(int(skill), m, c) for m, c in zip(best.means, best.covariances))
        self.components = components

    def _component(self, skill: int, mean: np.ndarray, cov: np.ndarray) -> list[float]:
        """[skill, mean difficulty, difficulty variance, mean ALP] of one Gaussian."""
        if self.difficulty_control:
            return [skill, float(mean[0]), float(cov[0, 0]), float(mean[-1])]
        return [skill, float(self.default_difficulty), 0.0, float(mean[-1])]

    def _draw(self) -> tuple[int, float, str]:
        """One task: (skill, difficulty, how it was drawn)."""
        if self.steps < self.bootstrap_steps or not self.components:
            return int(self.rng.integers(self.n_skills)), float(self.rng.random()), "bootstrap"
        if self.rng.random() < self.random_share:
            return int(self.rng.integers(self.n_skills)), float(self.rng.random()), "random"
        alp = np.maximum([c[3] for c in self.components], 0.0)
        p = alp / alp.sum() if alp.sum() > 0 else np.full(len(alp), 1.0 / len(alp))
        skill, mean, var, _ = self.components[int(self.rng.choice(len(p), p=p))]
        difficulty = float(np.clip(self.rng.normal(mean, np.sqrt(max(var, 0.0))), 0.0, 1.0))
        return int(skill), difficulty, "gmm"

    # -- saving -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "steps": self.steps,
            "points": {k: list(v) for k, v in self.points.items()},
            "pending": [list(p) for p in self.pending],
            "components": [list(c) for c in self.components],
            "fit_steps": list(self.fit_steps),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.steps = int(state["steps"])
        points = state["points"]
        self.points = {
            "skill": [int(x) for x in points["skill"]],
            "difficulty": [float(x) for x in points["difficulty"]],
            "competence": [float(x) for x in points["competence"]],
            "alp": [float(x) for x in points["alp"]],
            "step": [int(x) for x in points["step"]],
        }
        self.pending = [[int(s), float(d), float(c)] for s, d, c in state["pending"]]
        self.components = [[int(s), float(m), float(v), float(a)] for s, m, v, a in state["components"]]
        self.fit_steps = [int(x) for x in state["fit_steps"]]
        self.last_draws = []
