"""datagym: a Gymnasium-style gym for data-generation agents.

Importing datagym registers its envs with Gymnasium::

    import gymnasium as gym
    import datagym  # noqa: F401
    env = gym.make("datagym/Arithmetic-SkillList-v1")
"""

from datagym.registration import DEFAULT_ENV_ID, env_ids, register_envs
from datagym.types import Example, Skill, SkillTree

__version__ = "0.1.0"

register_envs()

__all__ = ["DEFAULT_ENV_ID", "Example", "Skill", "SkillTree", "env_ids", "register_envs", "__version__"]
