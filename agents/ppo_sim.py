"""``ppo_sim``: a Skill-List teacher trained by RL (Stable-Baselines3's PPO) on the simulated
student, to be used on the real one.

The policy (``ppo_sim_skill_list.zip`` beside this file, with a JSON of how it was trained)
comes from ``benchmarks/train_ppo_sim.py``: PPO with ``MultiInputPolicy`` on
datagym/Arithmetic-SkillList-v1 with ``student="simulated"``, observations through
``datagym.wrappers.BudgetFractionObservation``. The agent applies the same scaling to the
real env's observations and acts with the policy's mean action (deterministic), so the same
observations give the same allocation. It needs the ``rl`` extra (``pip install
"datagym[rl]"``) and an env whose observation has the trained one's parts and shapes (15
arithmetic skills); another env is refused where the agent is built. With difficulty control
it is difficulty-blind (every skill at the default difficulty).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from datagym.agents.base import SkillListAgent
from datagym.errors import ConfigError
from datagym.wrappers import budget_fractions

#: the packaged policy, beside this file
POLICY_FILE = "ppo_sim_skill_list.zip"
#: the env the packaged policy was trained for (on the simulated student)
TRAINED_ON = "datagym/Arithmetic-SkillList-v1"


def metadata_path(policy: str | Path) -> Path:
    """Where the training record of the policy file ``policy`` lives."""
    policy = Path(policy)
    return policy.with_name(policy.stem + ".json")


class PPOSimAgent(SkillListAgent):
    """PPO trained on the simulated student; acts with the policy's mean action."""

    levels = ("skill_list",)

    def __init__(self, action_space, observation_space, policy: str | None = None,
                 total_budget: float | None = None) -> None:
        super().__init__(action_space, observation_space)
        try:
            from stable_baselines3 import PPO
        except ImportError:
            raise ConfigError(
                "ppo_sim needs Stable-Baselines3, which is in the rl extra: pip install \"datagym[rl]\"."
            ) from None
        path = Path(policy) if policy is not None else Path(__file__).with_name(POLICY_FILE)
        if not path.exists():
            raise ConfigError(f"Expected a PPO policy file at {str(path)!r}; there is none. "
                              f"Train one with benchmarks/train_ppo_sim.py.")
        self.model = PPO.load(path, device="cpu")
        trained = self.model.observation_space
        self.keys = tuple(trained.spaces)
        if any(k not in observation_space.spaces or trained[k].shape != observation_space[k].shape for k in self.keys):
            raise ConfigError(
                f"ppo_sim's policy was trained on {TRAINED_ON} (observation "
                f"{ {k: v.shape for k, v in trained.spaces.items()} }); got an env with observation "
                f"{ {k: v.shape for k, v in observation_space.spaces.items()} }. Train a policy for that env "
                f"(benchmarks/train_ppo_sim.py)."
            )
        self.total_budget = float(total_budget if total_budget is not None else observation_space["budget_left"].high[0])

    def act(self, observation: Any, info: dict[str, Any]) -> Any:
        # the keys the policy knows (with difficulty control it is difficulty-blind: the bands go unread)
        features = budget_fractions({k: observation[k] for k in self.keys}, self.total_budget)
        action, _ = self.model.predict(features, deterministic=True)
        return self.weights(np.clip(action, 0.0, 1.0))
