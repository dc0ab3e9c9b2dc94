"""The agent (teacher) interface: ``act(observation, info) -> action`` and ``reset(seed)``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import gymnasium as gym
import numpy as np


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
    """An agent for the Skill-List env: its action is one weight per skill."""

    @property
    def n_skills(self) -> int:
        return int(self.action_space.shape[0])

    def weights(self, values: np.ndarray) -> np.ndarray:
        """An action from non-negative per-skill weights, in the action space's dtype."""
        return np.asarray(values, dtype=self.action_space.dtype)
