"""State-blind teachers for the Open-Ended level: the floors of its table.

They write problems with the task's own generators, exactly as the Skill-List env would for
the same allocation, so the Open-Ended level's table separates *what the teacher reads* (the
student's errors) from *how problems are made*.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from datagym.agents.open_ended_agent import OpenEndedAgent


class OpenEndedRandomAgent(OpenEndedAgent):
    """Problems from the task's generators for a fresh random skill mixture each step.

    Each step draws a flat-Dirichlet mixture over the skills and then each problem's skill from
    it (so the step's counts are multinomial), at a random difficulty; answers come from the
    generators. It reads only ``max_problems`` from the observation.
    """

    def act(self, observation: Any, info: dict[str, Any]) -> str:
        n = self.problem_count(self.read(observation))
        mixture = self.rng.dirichlet(np.ones(len(self.skill_names)))
        counts = self.rng.multinomial(n, mixture)
        return self.write([self.generated(skill) for skill, c in zip(self.skill_names, counts) for _ in range(int(c))])


class OpenEndedUniformAgent(OpenEndedAgent):
    """The same number of generator problems for every skill, every step.

    ``max_problems // n_skills`` each; the remainder goes one each to skills drawn at random
    without replacement, so no skill is favoured over an episode.
    """

    def act(self, observation: Any, info: dict[str, Any]) -> str:
        n = self.problem_count(self.read(observation))
        k = len(self.skill_names)
        counts = np.full(k, n // k)
        counts[self.rng.choice(k, size=n % k, replace=False)] += 1
        return self.write([self.generated(skill) for skill, c in zip(self.skill_names, counts) for _ in range(int(c))])
