"""What every Skill-Tree teacher shares: reading the tree's masks and writing a Dict action."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from datagym.agents.base import Agent


class SkillTreeAgent(Agent):
    """An agent for the Skill-Tree env: its action is ``{"expand": 0/1 per node, "allocation":
    a weight per node}`` (see ``datagym.envs.skill_tree_env.SkillTreeEnv``)."""

    levels = ("skill_tree",)

    def __init__(self, action_space: gym.Space, observation_space: gym.Space) -> None:
        super().__init__(action_space, observation_space)
        ok = isinstance(action_space, spaces.Dict) and set(action_space.spaces) == {"expand", "allocation"}
        if not ok:
            raise ValueError(
                f"Expected a Skill-Tree action space, a Dict with 'expand' and 'allocation', got {action_space!r}."
            )
        self.n_nodes = int(action_space["allocation"].shape[0])

    def action(self, expand: np.ndarray, allocation: np.ndarray) -> dict[str, np.ndarray]:
        """An action inside the action space: 0/1 expansions, weights scaled into [0, 1]."""
        allocation = np.asarray(allocation, dtype=np.float64)
        top = allocation.max() if allocation.size else 0.0
        if top > 1.0:
            allocation = allocation / top
        return {
            "expand": np.asarray(expand, dtype=bool).astype(self.action_space["expand"].dtype),
            "allocation": allocation.astype(self.action_space["allocation"].dtype),
        }

    @staticmethod
    def masks(observation: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(visible, frontier, expandable) as booleans: frontier = visible and not expanded (the
        deepest visible nodes; they cover every leaf exactly once)."""
        visible = np.asarray(observation["visible"]).astype(bool)
        expanded = np.asarray(observation["expanded"]).astype(bool)
        expandable = np.asarray(observation["expandable"]).astype(bool)
        return visible, visible & ~expanded, expandable
