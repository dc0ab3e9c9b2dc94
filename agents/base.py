"""The agent (teacher) interface: ``act(observation, info) -> action`` and ``reset(seed)``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class Agent(ABC):
    """A teacher. It is built from the env's spaces, reset with a seed at each episode's start,
    and asked for an action after every observation. All of its randomness comes from the
    generator ``reset`` seeds, so the same seed gives the same choices."""

    #: the env level(s) this agent is written for: "skill_list", "open_ended", "skill_tree"
    levels: tuple[str, ...] = ("skill_list",)

    def __init__(self, action_space: gym.Space, observation_space: gym.Space) -> None:
        self.action_space = action_space
        self.observation_space = observation_space
        self.rng = np.random.default_rng(0)

    def reset(self, seed: int | None = None) -> None:
        """Start a new episode: forget what was learned about the last student."""
        self.rng = np.random.default_rng(seed)

    @abstractmethod
    def act(self, observation: Any, info: dict[str, Any]) -> Any:
        """The next action given the latest observation and info."""

    def state_dict(self) -> dict[str, Any]:
        """What is needed to continue exactly (used by resume). Subclasses extend."""
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng = np.random.default_rng()
        self.rng.bit_generator.state = state["rng"]


class SkillListAgent(Agent):
    """An agent for the Skill-List env: its action is one weight per skill.

    With the env's ``difficulty_control=True`` the action space is a ``Dict`` of ``weights``
    and ``difficulty`` (one of each per skill). Subclasses need not care: they build their
    action with ``self.weights(values)`` as always, and it returns the Dict action then, with
    every skill at ``default_difficulty`` (0.5, the middle of the generators' knob) unless the
    agent passes ``difficulty=`` (a number or one per skill). An agent that passes a difficulty
    to an env without difficulty control has it ignored.
    """

    #: the difficulty a difficulty-blind agent asks for when the env has difficulty control
    default_difficulty: float = 0.5

    @property
    def difficulty_control(self) -> bool:
        """Whether the env takes a difficulty per skill (its action space is the Dict)."""
        return isinstance(self.action_space, spaces.Dict) and "difficulty" in self.action_space.spaces

    @property
    def _weight_space(self) -> gym.Space:
        return self.action_space["weights"] if self.difficulty_control else self.action_space

    @property
    def n_skills(self) -> int:
        return int(self._weight_space.shape[0])

    def weights(self, values: np.ndarray, difficulty: float | np.ndarray | None = None) -> Any:
        """An action from non-negative per-skill weights, in the action space's dtype: the
        array itself, or with difficulty control ``{"weights": ..., "difficulty": ...}`` with
        ``difficulty`` (default ``default_difficulty``) for every skill."""
        weights = np.asarray(values, dtype=self._weight_space.dtype)
        if not self.difficulty_control:
            return weights
        space = self.action_space["difficulty"]
        level = self.default_difficulty if difficulty is None else difficulty
        per_skill = np.broadcast_to(np.asarray(level, dtype=space.dtype), space.shape).copy()
        return {"weights": weights, "difficulty": per_skill}
