"""Gymnasium wrappers that fit datagym's envs to RL libraries (Stable-Baselines3 and the like).

- ``FlattenDictAction``: the Skill-Tree level's action (and the Skill-List level's with
  ``difficulty_control``) is a ``Dict`` of Box and MultiBinary parts; SB3's policies take one
  Box. The wrapper exposes the concatenation as a Box and cuts it back into the Dict; a
  MultiBinary part is read as ``value > 0.5``.
- ``BudgetFractionObservation``: the counts in an observation (``examples_seen``,
  ``budget_left``) run up to the episode's budget (7680 on the v1 envs); the wrapper divides
  them by it, so every part of the observation is of order one, as neural policies want.

Open-Ended's Text spaces are outside SB3 (no policy of it reads or writes text); an LLM policy
(``datagym.agents``) is the way there.

    >>> import gymnasium as gym, datagym
    >>> from datagym.wrappers import FlattenDictAction, BudgetFractionObservation
    >>> env = BudgetFractionObservation(FlattenDictAction(gym.make("datagym/Arithmetic-SkillTree-v1", student="simulated")))
    >>> env.action_space.shape
    (132,)
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from datagym.errors import ConfigError

#: observation keys that count examples (divided by the total budget)
COUNT_KEYS = ("examples_seen", "budget_left")


class FlattenDictAction(gym.ActionWrapper):
    """A Dict action space of Box and MultiBinary parts as one flat float32 Box."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        space = env.action_space
        if not isinstance(space, spaces.Dict):
            raise ConfigError(f"Expected an env with a Dict action space to flatten, got {space!r}.")
        self._parts: list[tuple[str, gym.Space, int, int]] = []
        lows, highs, start = [], [], 0
        for key, part in space.spaces.items():
            if isinstance(part, spaces.Box):
                size = int(np.prod(part.shape))
                lows.append(np.broadcast_to(part.low, part.shape).ravel())
                highs.append(np.broadcast_to(part.high, part.shape).ravel())
            elif isinstance(part, spaces.MultiBinary):
                size = int(np.prod(part.shape))
                lows.append(np.zeros(size))
                highs.append(np.ones(size))
            else:
                raise ConfigError(
                    f"Expected Box or MultiBinary parts in the Dict action, got {key!r}: {part!r}."
                )
            self._parts.append((key, part, start, start + size))
            start += size
        self.action_space = spaces.Box(np.concatenate(lows).astype(np.float32), np.concatenate(highs).astype(np.float32),
                                       dtype=np.float32)

    def action(self, action: Any) -> dict[str, np.ndarray]:
        flat = np.asarray(action, dtype=np.float32).ravel()
        if flat.shape != self.action_space.shape:
            raise ConfigError(f"Expected a flat action of shape {self.action_space.shape}, got shape {flat.shape}.")
        out: dict[str, np.ndarray] = {}
        for key, part, start, end in self._parts:
            values = flat[start:end]
            if isinstance(part, spaces.MultiBinary):
                out[key] = (values > 0.5).astype(part.dtype).reshape(part.shape)
            else:
                out[key] = np.clip(values, part.low.ravel(), part.high.ravel()).astype(part.dtype).reshape(part.shape)
        return out


class BudgetFractionObservation(gym.ObservationWrapper):
    """``examples_seen`` and ``budget_left`` as fractions of the episode's total budget."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        space = env.observation_space
        if not isinstance(space, spaces.Dict):
            raise ConfigError(f"Expected an env with a Dict observation space, got {space!r}.")
        self.total = float(env.unwrapped.config.total_budget)
        parts = dict(space.spaces)
        for key in COUNT_KEYS:
            if key in parts:
                part = parts[key]
                parts[key] = spaces.Box(0.0, 1.0, shape=part.shape, dtype=np.float32)
        self.observation_space = spaces.Dict(parts)

    def observation(self, observation: dict[str, Any]) -> dict[str, Any]:
        return budget_fractions(observation, self.total)


def budget_fractions(observation: dict[str, Any], total_budget: float) -> dict[str, Any]:
    """``observation`` with its counts divided by ``total_budget`` (what the wrapper does)."""
    out = dict(observation)
    for key in COUNT_KEYS:
        if key in out:
            out[key] = (np.asarray(out[key], dtype=np.float32) / np.float32(total_budget)).clip(0.0, 1.0)
    return out
