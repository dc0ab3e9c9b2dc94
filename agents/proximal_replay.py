"""Error replay in the zone of proximal development: variants of the errors of the skills the
student is closest to learning, at the Open-Ended level.

Error replay (LLM2LLM) spreads a step's problems over the skills in proportion to how many
errors each has. With a student that cannot learn some skills at all in an episode, those
skills have the most errors, so it puts most of its data where nothing is learned (the
Skill-List level's weakest-skill teacher fails the same way; ``benchmarks/allocation_diagnosis.py``
measures it). This teacher reads the same observation and chooses the skills as
``proximal_skill`` does on the Skill-List level: a placement step of equal generator problems
for every skill (the untrained student's losses say nothing), then, each step, the ``k``
skills below ``mastery`` validation accuracy with the lowest validation loss. The step's
problems are split equally over them; a chosen skill's problems are variants of its errors
shown in the observation (error replay's variants: same structure and operators, numbers
redrawn with the same number of digits, the oracle's answer), round robin, or the task's
generator problems when none of its errors is shown.

Args:
    k: how many skills get problems each step (default: a third of the skills).
    mastery: validation accuracy at which a skill counts as learned and gets no more data.
    attempts: variants drawn per problem before falling back to a generator problem.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from datagym.agents.error_replay import ErrorReplayAgent, largest_remainder


class ProximalReplayAgent(ErrorReplayAgent):
    def __init__(self, action_space, observation_space, task, k: int | None = None, mastery: float = 0.9,
                 attempts: int = 20) -> None:
        super().__init__(action_space, observation_space, task, attempts=attempts)
        n_skills = len(self.skill_names)
        self.k = k if k is not None else max(1, n_skills // 3)
        if isinstance(self.k, bool) or not isinstance(self.k, int) or not 1 <= self.k <= n_skills:
            raise ValueError(f"Expected k an integer in [1, {n_skills}] (the task's skills), got {k!r}.")
        if isinstance(mastery, bool) or not isinstance(mastery, (int, float)) or not 0.0 < mastery <= 1.0:
            raise ValueError(f"Expected mastery a number in (0, 1], got {mastery!r}.")
        self.mastery = float(mastery)

    def chosen_skills(self, state: dict[str, Any]) -> list[str]:
        """The skills this step's problems go to (all of them on the placement step)."""
        skills = state.get("skills", {})
        if not any(skills.get(s, {}).get("seen", 0) > 0 for s in self.skill_names):
            return list(self.skill_names)  # placement step: measure every skill on equal data
        open_skills = [s for s in self.skill_names if skills.get(s, {}).get("accuracy", 0.0) < self.mastery]
        if not open_skills:
            return list(self.skill_names)  # everything mastered: keep it fresh
        loss = np.asarray([skills.get(s, {}).get("loss", np.inf) for s in open_skills], dtype=np.float64)
        jitter = self.rng.random(len(open_skills)) * 1e-9  # ties break at random
        return [open_skills[i] for i in np.argsort(loss + jitter)[: self.k]]

    def act(self, observation: Any, info: dict[str, Any]) -> str:
        state = self.read(observation)
        n = self.problem_count(state)
        chosen = self.chosen_skills(state)
        shown: dict[str, list[str]] = {}
        for error in state.get("errors", []):
            shown.setdefault(error["skill"], []).append(error["question"])
        problems: list[dict[str, str]] = []
        for skill, count in zip(chosen, largest_remainder(np.ones(len(chosen)), n)):
            originals = shown.get(skill, [])
            for j in range(int(count)):
                problem = self.variant(originals[j % len(originals)], skill) if originals else None
                problems.append(problem if problem is not None else self.generated(skill))
        return self.write(problems)
