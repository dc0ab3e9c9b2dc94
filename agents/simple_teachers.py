"""Teachers that ignore (or barely use) the student's state: the floors of every table."""

from __future__ import annotations

from typing import Any

import numpy as np

import gymnasium as gym
from gymnasium import spaces

from datagym.agents.base import Agent, SkillListAgent


class NoTeachingAgent(Agent):
    """Generates nothing: the student stays untrained. The floor every teacher must beat.

    It works at every level: its action is the empty plan of the env's action space (zero
    weights, no expansions, an empty JSON list of problems).
    """

    levels = ("skill_list", "open_ended", "skill_tree")

    def act(self, observation: Any, info: dict[str, Any]) -> Any:
        return empty_action(self.action_space)


def empty_action(space: gym.Space) -> Any:
    """The action of ``space`` that asks for nothing."""
    if isinstance(space, spaces.Dict):
        return {key: empty_action(sub) for key, sub in space.spaces.items()}
    if isinstance(space, spaces.Text):
        return "[]"
    if isinstance(space, (spaces.Box, spaces.MultiBinary, spaces.MultiDiscrete)):
        low = getattr(space, "low", None)
        zeros = np.zeros(space.shape, dtype=space.dtype)
        return zeros if low is None else np.maximum(zeros, low).astype(space.dtype)
    raise TypeError(f"Expected a Box, MultiBinary, MultiDiscrete, Text or Dict action space, got {space!r}.")


#: the golden ratio's fractional part: multiples of it mod 1 spread evenly over [0, 1) for any
#: number of steps (a low-discrepancy sequence), so no episode length is favoured
_GOLDEN = (5**0.5 - 1) / 2


class UniformAgent(SkillListAgent):
    """The same amount of data for every skill, every step.

    With difficulty control it is uniform over difficulty too: skill ``i`` at step ``t`` gets
    difficulty ``frac(0.5 + (t + i) * 0.618...)`` (the golden-ratio sequence), so every skill's
    difficulties spread evenly over [0, 1) across the episode, starting from the middle, and
    the skills of one step are spread too. Like the env without difficulty control (which draws
    each example's difficulty at random), it favours no difficulty; unlike it, it is the same
    every episode.
    """

    def __init__(self, action_space, observation_space) -> None:
        super().__init__(action_space, observation_space)
        self.steps = 0

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.steps = 0

    def act(self, observation: Any, info: dict[str, Any]) -> Any:
        difficulty = np.mod(0.5 + (self.steps + np.arange(self.n_skills)) * _GOLDEN, 1.0)
        self.steps += 1
        return self.weights(np.ones(self.n_skills), difficulty)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.steps = int(state["steps"])


class RandomAgent(SkillListAgent):
    """A fresh random allocation each step (flat Dirichlet): the state-blind random baseline.
    With difficulty control each skill's difficulty is drawn uniformly in [0, 1) too (after the
    weights, so without difficulty control its draws are exactly as before)."""

    def act(self, observation: Any, info: dict[str, Any]) -> Any:
        weights = self.rng.dirichlet(np.ones(self.n_skills))
        difficulty = self.rng.random(self.n_skills) if self.difficulty_control else None
        return self.weights(weights, difficulty)


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
