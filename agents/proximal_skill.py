"""A zone-of-proximal-development teacher: data for the skills the student is closest to learning.

Exact-match accuracy says which skills are mastered, but not which of the rest are within
reach: a skill that is about to click and one that is hopeless both score zero. The student's
validation loss on a skill (how much probability it gives the right answer) tells them apart.
Before any data the losses of an untrained student say nothing, so the first step is a
placement step: the same amount of data for every skill, after which every skill's loss is
measured on an equal footing (and, with a replaying student, stays so). From then on this
teacher drops the skills already at ``mastery`` accuracy and splits the budget equally over
the ``k`` remaining skills with the lowest validation loss: the easiest skills
not yet learned, after Vygotsky's zone of proximal development as used for curricula in
Oudeyer et al.'s and Portelas et al.'s teacher-student work.

Args:
    k: how many skills get data each step (default: a third of the skills).
    mastery: validation accuracy at which a skill counts as learned and gets no more data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from datagym.agents.base import SkillListAgent


class ProximalSkillAgent(SkillListAgent):
    def __init__(self, action_space, observation_space, k: int | None = None, mastery: float = 0.9) -> None:
        super().__init__(action_space, observation_space)
        self.k = k if k is not None else max(1, self.n_skills // 3)
        if not isinstance(self.k, int) or not 1 <= self.k <= self.n_skills:
            raise ValueError(f"Expected k in [1, {self.n_skills}], got {k!r}.")
        if not 0.0 < mastery <= 1.0:
            raise ValueError(f"Expected mastery in (0, 1], got {mastery!r}.")
        self.mastery = mastery

    def act(self, observation: Any, info: dict[str, Any]) -> np.ndarray:
        accuracy = np.asarray(observation["accuracy"], dtype=np.float64)
        if not np.any(np.asarray(observation["examples_seen"]) > 0):
            return self.weights(np.ones(self.n_skills))  # placement step: measure every skill
        loss = np.asarray(observation["loss"], dtype=np.float64)
        open_skills = np.flatnonzero(accuracy < self.mastery)
        if open_skills.size == 0:
            return self.weights(np.ones(self.n_skills))  # everything mastered: keep it fresh
        # Lowest loss first; ties break at random so equal skills share the chances.
        jitter = self.rng.random(open_skills.size) * 1e-9
        chosen = open_skills[np.argsort(loss[open_skills] + jitter)[: self.k]]
        weights = np.zeros(self.n_skills)
        weights[chosen] = 1.0
        return self.weights(weights)
