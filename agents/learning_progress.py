"""A learning-progress teacher after Matiisen et al., "Teacher-Student Curriculum Learning" (TSCL).

TSCL gives data to the tasks whose score is changing fastest: it estimates the slope of each
task's score over a window of recent measurements and prefers the steepest. With
``absolute=True`` (the paper's recommendation) a falling score counts as progress too, so a
skill that is being forgotten gets revisited. Because the Skill-List env measures every skill
each step, every skill's slope is refreshed each step; the allocation is a Boltzmann
distribution over the slopes, mixed with ``epsilon`` uniform exploration.

Args:
    window: how many recent measurements the slope is fitted over (TSCL's window K).
    absolute: use |slope| so forgetting is revisited.
    temperature: softmax temperature over slopes (in accuracy per step).
    epsilon: share of the budget spread uniformly, for exploration.
    top_k: only the k skills with the largest progress get the non-exploration share.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from datagym.agents.base import SkillListAgent


def slope(history: np.ndarray) -> np.ndarray:
    """Least-squares slope of each column of ``history`` (rows: measurements in time order)."""
    t = np.arange(history.shape[0], dtype=np.float64)
    t -= t.mean()
    denom = float((t**2).sum())
    if denom == 0:
        return np.zeros(history.shape[1])
    return (t[:, None] * (history - history.mean(axis=0))).sum(axis=0) / denom


class LearningProgressAgent(SkillListAgent):
    def __init__(
        self,
        action_space,
        observation_space,
        window: int = 3,
        absolute: bool = True,
        temperature: float = 0.02,
        epsilon: float = 0.2,
        top_k: int | None = None,
    ) -> None:
        super().__init__(action_space, observation_space)
        if window < 2:
            raise ValueError(f"Expected window >= 2 (a slope needs two points), got {window}.")
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"Expected epsilon in [0, 1], got {epsilon}.")
        if temperature <= 0:
            raise ValueError(f"Expected a positive temperature, got {temperature}.")
        self.window, self.absolute, self.temperature, self.epsilon = window, absolute, temperature, epsilon
        self.top_k = top_k if top_k is not None else max(1, self.n_skills // 3)
        if not 1 <= self.top_k <= self.n_skills:
            raise ValueError(f"Expected top_k in [1, {self.n_skills}], got {top_k!r}.")
        self.history: list[np.ndarray] = []

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.history = []

    def progress(self) -> np.ndarray:
        if len(self.history) < 2:
            return np.zeros(self.n_skills)
        p = slope(np.stack(self.history[-self.window :]))
        return np.abs(p) if self.absolute else np.maximum(p, 0.0)

    def act(self, observation: Any, info: dict[str, Any]) -> np.ndarray:
        self.history.append(np.asarray(observation["accuracy"], dtype=np.float64).copy())
        if len(self.history) < 2:
            return self.weights(np.ones(self.n_skills))  # no slope yet: measure everything
        p = self.progress()
        # Ties (e.g. all zero progress) break at random, not always toward the first skills.
        jitter = self.rng.random(self.n_skills) * 1e-9
        chosen = np.argsort(-(p + jitter))[: self.top_k]
        logits = p[chosen] / self.temperature
        soft = np.exp(logits - logits.max())
        exploit = np.zeros(self.n_skills)
        exploit[chosen] = soft / soft.sum()
        return self.weights((1 - self.epsilon) * exploit + self.epsilon / self.n_skills)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "history": [h.tolist() for h in self.history]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.history = [np.asarray(h, dtype=np.float64) for h in state["history"]]
