"""Teachers that ignore (or barely use) the student's state: the floors of every table."""

from __future__ import annotations

from typing import Any

import numpy as np

from datagym.agents.base import SkillListAgent


class NoTeachingAgent(SkillListAgent):
    """Generates nothing: the student stays untrained. The floor every teacher must beat."""

    def act(self, observation: Any, info: dict[str, Any]) -> np.ndarray:
        return self.weights(np.zeros(self.n_skills))


class UniformAgent(SkillListAgent):
    """The same amount of data for every skill, every step."""

    def act(self, observation: Any, info: dict[str, Any]) -> np.ndarray:
        return self.weights(np.ones(self.n_skills))


class RandomAgent(SkillListAgent):
    """A fresh random allocation each step (flat Dirichlet): the state-blind random baseline."""

    def act(self, observation: Any, info: dict[str, Any]) -> np.ndarray:
        return self.weights(self.rng.dirichlet(np.ones(self.n_skills)))


class WeakestSkillAgent(SkillListAgent):
    """DataEnvGym's skill-list teacher: put the step's data on the skills the student is worst at.

    Each step the ``k`` skills with the lowest validation accuracy share the budget equally
    (ties go to the skill with fewer examples so far). ``k`` defaults to a third of the skills,
    so a skill that cannot be learned does not swallow the whole budget.

    Args:
        k: how many of the weakest skills get data each step (default: a third of the skills).
    """

    def __init__(self, action_space, observation_space, k: int | None = None) -> None:
        super().__init__(action_space, observation_space)
        self.k = k if k is not None else max(1, self.n_skills // 3)
        if not 1 <= self.k <= self.n_skills:
            raise ValueError(f"Expected k in [1, {self.n_skills}], got {k!r}.")

    def act(self, observation: Any, info: dict[str, Any]) -> np.ndarray:
        accuracy = np.asarray(observation["accuracy"], dtype=np.float64)
        seen = np.asarray(observation["examples_seen"], dtype=np.float64)
        order = np.lexsort((np.arange(self.n_skills), seen, accuracy))
        weights = np.zeros(self.n_skills)
        weights[order[: self.k]] = 1.0
        return self.weights(weights)
