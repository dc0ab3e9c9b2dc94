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

With ``uniform_share`` > 0 that share of every step's data goes to all skills equally and
only the rest to the ``k`` chosen ones: a tilt rather than a switch. It exists because the v1
student forgets what a concentrated step does not train (benchmarks/README.md, "Teachers on
the v1 envs"): with ``uniform_share`` 0, each skill left out of a step is carried by replay
alone.

Args:
    k: how many skills get data each step (default: a third of the skills).
    mastery: validation accuracy at which a skill counts as learned and gets no more data
        (beyond its part of ``uniform_share``).
    uniform_share: share of each step's data spread over every skill (default 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from datagym.agents.base import SkillListAgent


class ProximalSkillAgent(SkillListAgent):
    def __init__(self, action_space, observation_space, k: int | None = None, mastery: float = 0.9,
                 uniform_share: float = 0.0) -> None:
        super().__init__(action_space, observation_space)
        self.k = k if k is not None else max(1, self.n_skills // 3)
        if not isinstance(self.k, int) or not 1 <= self.k <= self.n_skills:
            raise ValueError(f"Expected k in [1, {self.n_skills}], got {k!r}.")
        if not 0.0 < mastery <= 1.0:
            raise ValueError(f"Expected mastery in (0, 1], got {mastery!r}.")
        self.mastery = mastery
        if isinstance(uniform_share, bool) or not isinstance(uniform_share, (int, float)) or not 0 <= uniform_share <= 1:
            raise ValueError(f"Expected uniform_share a number in [0, 1], got {uniform_share!r}.")
        self.uniform_share = float(uniform_share)

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
        if self.uniform_share == 0:
            weights[chosen] = 1.0
        else:  # shares (the env turns weights into counts in proportion)
            weights += self.uniform_share / self.n_skills
            weights[chosen] += (1.0 - self.uniform_share) / chosen.size
        return self.weights(weights)
