"""Skill-List teachers at the Open-Ended level: the allocation of a Skill-List agent, written out
as generator problems.

The Open-Ended observation carries everything the Skill-List one does (each skill's accuracy,
validation loss and accepted examples in ``skills``, and ``budget_left``), so a Skill-List
agent can choose the step's allocation from it. ``OpenEndedAllocationAgent`` rebuilds the
Skill-List observation from the JSON, asks its Skill-List agent for weights, splits the
step's ``max_problems`` as the Skill-List env splits its budget (``allocate``: largest
remainder, ties to the lower index; all-zero weights make an empty step) and writes that many
problems per skill from the task's generators, as the level's floors (``open_ended_uniform``,
``open_ended_random``) write theirs. The comparison with the floors is then about the
allocation alone.

``open_ended_ppo_sim`` is the one registered: ``ppo_sim``'s PPO policy (trained on the
simulated student at the Skill-List level) teaching at the Open-Ended level.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from datagym.agents.open_ended_agent import OpenEndedAgent
from datagym.agents.ppo_sim import PPOSimAgent
from datagym.env_config import EnvConfig
from datagym.envs.skill_list_env import MAX_LOSS, allocate


def skill_list_spaces(n_skills: int, total_budget: int) -> tuple[spaces.Box, spaces.Dict]:
    """The Skill-List env's action and observation spaces (no difficulty control) for
    ``n_skills`` skills and an episode budget of ``total_budget`` examples."""
    total = float(total_budget)
    action = spaces.Box(0.0, 1.0, shape=(n_skills,), dtype=np.float32)
    observation = spaces.Dict({
        "accuracy": spaces.Box(0.0, 1.0, shape=(n_skills,), dtype=np.float32),
        "examples_seen": spaces.Box(0.0, total, shape=(n_skills,), dtype=np.float32),
        "budget_left": spaces.Box(0.0, total, shape=(1,), dtype=np.float32),
        "loss": spaces.Box(0.0, MAX_LOSS, shape=(n_skills,), dtype=np.float32),
    })
    return action, observation


class OpenEndedAllocationAgent(OpenEndedAgent):
    """An Open-Ended teacher whose allocation over skills comes from a Skill-List agent.

    Subclasses say which Skill-List agent in ``make_inner(action_space, observation_space)``.
    The inner agent is built for the episode budget the first observation states
    (``total_budget``), and again if a later observation states another one.
    """

    def __init__(self, action_space, observation_space, task) -> None:
        super().__init__(action_space, observation_space, task)
        self.inner = None
        self._inner_budget: int | None = None

    def make_inner(self, action_space: spaces.Box, observation_space: spaces.Dict):
        raise NotImplementedError

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        if self.inner is not None:
            self.inner.reset(seed)

    def skill_list_observation(self, state: dict[str, Any]) -> dict[str, np.ndarray]:
        """The Skill-List observation that the Open-Ended ``state`` describes."""
        skills = state.get("skills", {})
        missing = [s for s in self.skill_names if s not in skills]
        if missing:
            raise ValueError(f"Expected every skill of the task in the observation's 'skills', missing {missing}.")

        def column(key: str) -> np.ndarray:
            return np.asarray([skills[s][key] for s in self.skill_names], dtype=np.float32)

        return {
            "accuracy": column("accuracy"),
            "examples_seen": column("seen"),
            "budget_left": np.array([state["budget_left"]], dtype=np.float32),
            "loss": np.clip(column("loss"), 0.0, MAX_LOSS),
        }

    def _inner_for(self, total_budget: int):
        if self.inner is None or self._inner_budget != total_budget:
            self.inner = self.make_inner(*skill_list_spaces(len(self.skill_names), total_budget))
            self.inner.reset(None)
            self._inner_budget = total_budget
        return self.inner

    def act(self, observation: Any, info: dict[str, Any]) -> str:
        state = self.read(observation)
        for key in ("budget_left", "total_budget"):
            if key not in state:
                raise ValueError(f"Expected the Open-Ended observation to have {key!r}; it has {sorted(state)}.")
        inner = self._inner_for(int(state["total_budget"]))
        weights = np.asarray(inner.act(self.skill_list_observation(state), info), dtype=np.float64)
        total = self.problem_count(state)
        if total <= 0 or not weights.any():
            return self.write([])
        counts = allocate(weights, total)
        return self.write([self.generated(s) for s, c in zip(self.skill_names, counts) for _ in range(int(c))])

    def state_dict(self) -> dict[str, Any]:
        inner = self.inner.state_dict() if self.inner is not None else None
        return {**super().state_dict(), "inner": inner, "inner_budget": self._inner_budget}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if state.get("inner") is not None:
            self._inner_for(int(state["inner_budget"])).load_state_dict(state["inner"])


class OpenEndedPPOSimAgent(OpenEndedAllocationAgent):
    """``ppo_sim``'s policy at the Open-Ended level. Args: ``policy`` as ``ppo_sim``'s."""

    def __init__(self, action_space, observation_space, task, policy: str | None = None) -> None:
        super().__init__(action_space, observation_space, task)
        self.policy = policy
        # fail where the agent is built, not at its first step: the policy must load and fit
        # (built for the default budget; the first observation's budget rebuilds it if it differs)
        self._inner_for(EnvConfig.total_budget)

    def make_inner(self, action_space, observation_space):
        return PPOSimAgent(action_space, observation_space, policy=self.policy)

