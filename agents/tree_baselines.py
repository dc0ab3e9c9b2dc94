"""The Skill-Tree level's floors: a random teacher and a uniform one.

They are meant as honest floors, not straw men. ``tree_random`` explores at the same average
rate as ``explore_exploit`` (``n_expand`` nodes every other step), so that the comparison is
about *which* nodes a teacher looks at and feeds, not about how much it spends looking.
``tree_uniform`` never expands (it pays nothing for exploring) and gives every visible node,
that is every family, the same data: the Skill-List ``uniform`` teacher up to family sizes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from datagym.agents.skill_tree_agent import SkillTreeAgent


class TreeRandomAgent(SkillTreeAgent):
    """Random expansions and a random allocation over the visible nodes.

    Each step, with probability ``explore_prob``, it expands ``n_expand`` of the expandable
    nodes drawn uniformly; the allocation is a flat-Dirichlet draw over the visible nodes
    (weight on a visible inner node spreads over the leaves beneath it).

    Args:
        n_expand: nodes expanded on a step that explores.
        explore_prob: chance that a step explores (0.5: the rate of ``explore_exploit``).
    """

    def __init__(self, action_space, observation_space, n_expand: int = 2, explore_prob: float = 0.5) -> None:
        super().__init__(action_space, observation_space)
        if isinstance(n_expand, bool) or not isinstance(n_expand, int) or n_expand < 0:
            raise ValueError(f"Expected n_expand to be a non-negative integer, got {n_expand!r}.")
        if not 0.0 <= explore_prob <= 1.0:
            raise ValueError(f"Expected explore_prob in [0, 1], got {explore_prob!r}.")
        self.n_expand = n_expand
        self.explore_prob = float(explore_prob)

    def act(self, observation: Any, info: dict[str, Any]) -> dict[str, np.ndarray]:
        visible, _, expandable = self.masks(observation)
        expand = np.zeros(self.n_nodes, dtype=bool)
        if self.rng.random() < self.explore_prob:
            candidates = np.flatnonzero(expandable)
            take = min(self.n_expand, candidates.size)
            expand[self.rng.choice(candidates, size=take, replace=False)] = True
        allocation = np.zeros(self.n_nodes)
        if visible.any():
            allocation[visible] = self.rng.dirichlet(np.ones(int(visible.sum())))
        return self.action(expand, allocation)


class TreeUniformAgent(SkillTreeAgent):
    """Never expands; the same weight on every visible node (the families), every step."""

    def act(self, observation: Any, info: dict[str, Any]) -> dict[str, np.ndarray]:
        visible, _, _ = self.masks(observation)
        return self.action(np.zeros(self.n_nodes, dtype=bool), visible.astype(np.float64))
