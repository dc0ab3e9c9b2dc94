"""The triage teacher at the Skill-Tree level: uncover the skills, then allocate as ``triage``.

The tree's coarse nodes (families) average skills that range from learned in a few dozen
examples to hopeless within the budget, so their scores cannot tell a teacher which skills to
stop feeding. This teacher pays to look once: on its first actions it expands every
expandable node above the skill level (for Arithmetic the 6 families, 6 x ``expand_cost``
examples) and gives every band beneath the visible nodes the same data. From then on it never
expands again (the difficulty bands below the skills are not needed for the triage), and
allocates over the skill nodes with ``TriageRule``: equal placement steps, then the skills
whose loss fell least and the mastered ones on a floor (see ``datagym.agents.triage``). A
skill's weight spreads over its bands equally, i.e. over its whole difficulty range.

The skill nodes are read from the ``depth`` observation: the nodes one level above the
deepest (the bands), one per skill of the env's task (``make_agent`` passes the task).

Args: as ``triage``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from datagym.agents.skill_tree_agent import SkillTreeAgent
from datagym.agents.triage import TriageRule
from datagym.task import Task


class TreeTriageAgent(SkillTreeAgent):
    def __init__(self, action_space, observation_space, task: Task, placement_steps: int = 4,
                 n_stuck: int | None = None, floor: float = 0.25, mastery: float = 0.95,
                 mastered_floor: float | None = None) -> None:
        super().__init__(action_space, observation_space)
        if not isinstance(task, Task):
            raise TypeError(f"Expected task to be a datagym Task (the env's task), got {type(task).__name__}.")
        # one weight per skill of the task: the tree's skill nodes, in the task's order
        self.rule = TriageRule(len(task.skill_names), placement_steps, n_stuck, floor, mastery, mastered_floor)

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.rule.reset()

    def act(self, observation: Any, info: dict[str, Any]) -> dict[str, np.ndarray]:
        visible, frontier, expandable = self.masks(observation)
        depth = np.asarray(observation["depth"])
        skills = np.flatnonzero(depth == depth.max() - 1)
        if skills.size != self.rule.n_skills:
            raise ValueError(f"Expected {self.rule.n_skills} skill nodes (one level above the deepest), "
                             f"got {skills.size}: this agent was built for another task's tree.")
        expand = expandable & (depth < depth.max() - 1)
        loss = np.where(visible[skills], np.asarray(observation["loss"], dtype=np.float64)[skills], -1.0)
        accuracy = np.asarray(observation["accuracy"], dtype=np.float64)[skills]
        weights = self.rule.weights(loss, accuracy)
        allocation = np.zeros(self.n_nodes)
        if visible[skills].all():
            allocation[skills] = weights
        else:  # the same data for every band beneath what is visible
            allocation[frontier] = np.asarray(observation["leaves"], dtype=np.float64)[frontier]
        return self.action(expand, allocation)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "rule": self.rule.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.rule.load_state_dict(state["rule"])
