"""A learning-progress teacher after Matiisen et al., "Teacher-Student Curriculum Learning" (TSCL).

TSCL gives data to the tasks whose score is changing fastest. This is its *Window* algorithm:
for each skill the agent keeps the validation scores measured right after the steps in
which that skill was trained (and the one before its first data), fits the slope of the last
``window`` of them, and samples the next task from a Boltzmann distribution over the slopes,
with epsilon-greedy exploration of a uniformly random task. With ``absolute=True`` (the
paper's recommendation) a falling score counts as progress too, so a skill that is being
forgotten gets revisited. The score is the skill's exact-match validation accuracy (``signal="accuracy"``, the
default, as TSCL's task scores) or its validation loss (``signal="loss"``, progress = its
decrease, as in Graves et al.'s loss-driven signals). Measuring a skill's progress only over its own training steps keeps
what was learned about it when it rests, as in the paper; a skill never trained has no slope
yet and is valued at ``optimism`` (TSCL starts every task at 0; a positive value tries every
skill once before exploiting, which matters when an episode has only a few steps).

The Skill-List env takes a whole step's allocation at once, so each step the agent makes
``draws`` task draws and splits the budget by their histogram. Exploration therefore stays
concentrated: an explored skill gets a whole draw's share of the step (enough data to show
progress), not a sliver spread over every skill.

Args:
    window: how many of a skill's measurements its slope is fitted over (TSCL's window K).
    absolute: use |slope| so forgetting is revisited.
    temperature: Boltzmann temperature over progress relative to the largest progress seen
        this step (so it does not depend on the signal's units); ``None`` (the default) samples
        skills in proportion to their progress instead, as Portelas et al.'s ALP-GMM and
        Oudeyer et al.'s IAC do, which spreads the budget over every skill that is moving
        rather than chasing the single fastest one.
    epsilon: probability that a draw picks a uniformly random skill (exploration).
    draws: task draws per step; the step's budget is split by their histogram.
    optimism: progress assumed for a skill not trained yet, relative to the largest progress.
    signal: "accuracy" (default) or "loss", the per-skill score whose slope is progress.
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
        window: int = 2,
        absolute: bool = True,
        temperature: float | None = None,
        epsilon: float = 0.1,
        draws: int = 8,
        optimism: float = 0.5,
        signal: str = "accuracy",
    ) -> None:
        super().__init__(action_space, observation_space)
        if not isinstance(window, int) or window < 2:
            raise ValueError(f"Expected window >= 2 (a slope needs two points), got {window!r}.")
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"Expected epsilon in [0, 1], got {epsilon!r}.")
        if temperature is not None and not temperature > 0:
            raise ValueError(f"Expected a positive temperature, got {temperature!r}.")
        if not isinstance(draws, int) or draws < 1:
            raise ValueError(f"Expected draws to be a positive integer, got {draws!r}.")
        if signal not in ("loss", "accuracy"):
            raise ValueError(f"Expected signal 'loss' or 'accuracy', got {signal!r}.")
        if not optimism >= 0:
            raise ValueError(f"Expected optimism >= 0, got {optimism!r}.")
        self.window, self.absolute, self.temperature, self.epsilon = window, absolute, temperature, epsilon
        self.draws, self.optimism, self.signal = draws, optimism, signal
        self._fresh()

    def _fresh(self) -> None:
        #: per skill, the accuracies measured after the steps that trained it (oldest first)
        self.history: list[list[float]] = [[] for _ in range(self.n_skills)]
        self.last_action: np.ndarray | None = None

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self._fresh()

    def score(self, observation: Any) -> np.ndarray:
        """The per-skill score whose slope is progress (higher is better)."""
        if self.signal == "loss":
            return -np.asarray(observation["loss"], dtype=np.float64)
        return np.asarray(observation["accuracy"], dtype=np.float64)

    def observe(self, scores: np.ndarray) -> None:
        """Record the latest measurement for every skill the previous action trained."""
        for i, acc in enumerate(scores):
            if not self.history[i]:
                self.history[i].append(float(acc))  # the score before its first data
            elif self.last_action is not None and self.last_action[i] > 0:
                self.history[i].append(float(acc))

    def progress(self) -> np.ndarray:
        """Per-skill learning progress relative to the largest: the (absolute) slope of each
        skill's last ``window`` measurements over the largest such slope; ``optimism`` for a
        skill with fewer than two measurements."""
        raw = np.full(self.n_skills, np.nan)
        for i, scores in enumerate(self.history):
            if len(scores) >= 2:
                s = float(slope(np.asarray(scores[-self.window :])[:, None])[0])
                raw[i] = abs(s) if self.absolute else max(s, 0.0)
        known = ~np.isnan(raw)
        scale = raw[known].max() if known.any() else 0.0
        p = np.full(self.n_skills, float(self.optimism))
        p[known] = raw[known] / scale if scale > 0 else 0.0
        return p

    def policy(self) -> np.ndarray:
        """Probability that one draw picks each skill, mixed with epsilon: Boltzmann over
        progress, or proportional to it (``temperature=None``)."""
        p = self.progress()
        if self.temperature is None:
            exploit = p / p.sum() if p.sum() > 0 else np.full(self.n_skills, 1.0 / self.n_skills)
        else:
            soft = np.exp((p - p.max()) / self.temperature)
            exploit = soft / soft.sum()
        return (1 - self.epsilon) * exploit + self.epsilon / self.n_skills

    def act(self, observation: Any, info: dict[str, Any]) -> np.ndarray:
        self.observe(self.score(observation))
        counts = self.rng.multinomial(self.draws, self.policy())
        self.last_action = counts / self.draws
        return self.weights(self.last_action)

    def state_dict(self) -> dict[str, Any]:
        last = None if self.last_action is None else self.last_action.tolist()
        return {**super().state_dict(), "history": [list(h) for h in self.history], "last_action": last}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.history = [list(map(float, h)) for h in state["history"]]
        last = state["last_action"]
        self.last_action = None if last is None else np.asarray(last, dtype=np.float64)
