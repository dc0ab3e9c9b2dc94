"""The triage teacher at the Open-Ended level: generator problems, allocated as ``triage`` does.

It reads each skill's validation loss and accuracy from the observation's ``skills`` and splits
the step's problems over the skills with ``TriageRule`` (equal placement steps, then the skills
whose loss fell least and the mastered ones on a floor; see ``datagym.agents.triage``). The
problems come from the task's generators, as the level's floors (``open_ended_uniform``,
``open_ended_random``) make theirs, so the comparison with them is about what the teacher
reads, not about how problems are written.

Args: as ``triage``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from datagym.agents.error_replay import largest_remainder
from datagym.agents.open_ended_agent import OpenEndedAgent
from datagym.agents.triage import TriageRule


class OpenEndedTriageAgent(OpenEndedAgent):
    def __init__(self, action_space, observation_space, task, placement_steps: int = 4,
                 n_stuck: int | None = None, floor: float = 0.25, mastery: float = 0.95,
                 mastered_floor: float | None = None) -> None:
        super().__init__(action_space, observation_space, task)
        self.rule = TriageRule(len(self.skill_names), placement_steps, n_stuck, floor, mastery, mastered_floor)

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.rule.reset()

    def act(self, observation: Any, info: dict[str, Any]) -> str:
        state = self.read(observation)
        skills = state.get("skills", {})
        missing = [s for s in self.skill_names if s not in skills]
        if missing:
            raise ValueError(f"Expected every skill of the task in the observation's 'skills', missing {missing}.")
        loss = np.asarray([skills[s]["loss"] for s in self.skill_names], dtype=np.float64)
        accuracy = np.asarray([skills[s]["accuracy"] for s in self.skill_names], dtype=np.float64)
        counts = largest_remainder(self.rule.weights(loss, accuracy), self.problem_count(state))
        return self.write([self.generated(s) for s, c in zip(self.skill_names, counts) for _ in range(int(c))])

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "rule": self.rule.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.rule.load_state_dict(state["rule"])
