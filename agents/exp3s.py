"""EXP3.S after Graves et al., "Automated Curriculum Learning for Neural Networks" (ICML 2017).

A non-stationary adversarial bandit over skills. Each step the policy
``pi = (1 - epsilon) * softmax(w) + epsilon / N`` is sampled ``pulls`` times and the budget is
split by the pull counts. The learning-progress reward of a pulled skill (the change in its own
validation accuracy, or with ``signal="macro"`` the env's reward) is rescaled to [-1, 1] by the
20th and 80th percentiles of all rewards seen so far, importance-weighted by 1/pi, and the
weights are updated with EXP3.S's fixed-share mixing ``alpha``, which lets the bandit move
to a skill whose payoff rises late.

Args:
    eta: learning rate of the weights.
    epsilon: uniform exploration share of the policy.
    alpha: fixed-share weight mixing (EXP3.S's non-stationarity term).
    pulls: arm draws per step; the allocation is their histogram.
    signal: "skill" (the pulled skill's own accuracy change) or "macro" (the env reward).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from datagym.agents.base import SkillListAgent


class Exp3SAgent(SkillListAgent):
    def __init__(
        self,
        action_space,
        observation_space,
        eta: float = 0.3,
        epsilon: float = 0.1,
        alpha: float = 0.01,
        pulls: int = 8,
        signal: str = "skill",
    ) -> None:
        super().__init__(action_space, observation_space)
        if signal not in ("skill", "macro"):
            raise ValueError(f"Expected signal 'skill' or 'macro', got {signal!r}.")
        if pulls < 1:
            raise ValueError(f"Expected pulls >= 1, got {pulls}.")
        for name, value in (("epsilon", epsilon), ("alpha", alpha)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"Expected {name} in [0, 1], got {value}.")
        if not eta > 0:
            raise ValueError(f"Expected a positive eta, got {eta}.")
        self.eta, self.epsilon, self.alpha, self.pulls, self.signal = eta, epsilon, alpha, pulls, signal
        self._fresh()

    def _fresh(self) -> None:
        self.log_w = np.zeros(self.n_skills)
        self.reward_history: list[float] = []
        self.last_counts: np.ndarray | None = None
        self.last_pi: np.ndarray | None = None
        self.last_accuracy: np.ndarray | None = None

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self._fresh()

    def policy(self) -> np.ndarray:
        soft = np.exp(self.log_w - self.log_w.max())
        return (1 - self.epsilon) * soft / soft.sum() + self.epsilon / self.n_skills

    def _rescale(self, reward: float) -> float:
        lo, hi = np.quantile(self.reward_history, [0.2, 0.8])
        if hi <= lo:
            return 0.0
        if reward <= lo:
            return -1.0
        if reward >= hi:
            return 1.0
        return 2.0 * (reward - lo) / (hi - lo) - 1.0

    def _update(self, accuracy: np.ndarray, macro_reward: float) -> None:
        assert self.last_counts is not None and self.last_pi is not None and self.last_accuracy is not None
        pulled = np.flatnonzero(self.last_counts)
        raw = (accuracy - self.last_accuracy) if self.signal == "skill" else np.full(self.n_skills, macro_reward)
        self.reward_history.extend(float(raw[i]) for i in pulled)
        estimate = np.zeros(self.n_skills)
        for i in pulled:
            share = self.last_counts[i] / self.pulls
            estimate[i] = self._rescale(float(raw[i])) * share / self.last_pi[i]
        # EXP3.S: exponential update, then fixed-share mixing with the other arms.
        w = np.exp(self.log_w - self.log_w.max() + self.eta * estimate)
        total = w.sum()
        mixed = (1 - self.alpha) * w + self.alpha * (total - w) / max(self.n_skills - 1, 1)
        self.log_w = np.log(mixed)

    def act(self, observation: Any, info: dict[str, Any]) -> np.ndarray:
        accuracy = np.asarray(observation["accuracy"], dtype=np.float64)
        if self.last_counts is not None and self.last_accuracy is not None:
            # The env's reward is the change in macro accuracy, so it follows from the observations.
            self._update(accuracy, float(accuracy.mean() - self.last_accuracy.mean()))
        pi = self.policy()
        counts = self.rng.multinomial(self.pulls, pi).astype(np.float64)
        self.last_counts, self.last_pi, self.last_accuracy = counts, pi, accuracy.copy()
        return self.weights(counts / self.pulls)

    def state_dict(self) -> dict[str, Any]:
        def arr(x):
            return None if x is None else x.tolist()

        return {
            **super().state_dict(),
            "log_w": self.log_w.tolist(),
            "reward_history": list(self.reward_history),
            "last_counts": arr(self.last_counts),
            "last_pi": arr(self.last_pi),
            "last_accuracy": arr(self.last_accuracy),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)

        def arr(x):
            return None if x is None else np.asarray(x, dtype=np.float64)

        self.log_w = np.asarray(state["log_w"], dtype=np.float64)
        self.reward_history = list(state["reward_history"])
        self.last_counts, self.last_pi, self.last_accuracy = (
            arr(state["last_counts"]), arr(state["last_pi"]), arr(state["last_accuracy"])
        )
