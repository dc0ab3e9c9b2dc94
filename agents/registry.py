"""Agents by name, and a user's own agent by ``package.module:Class``."""

from __future__ import annotations

import inspect
from typing import Any

import gymnasium as gym

from datagym.errors import ConfigError, UnknownNameError
from datagym.registration import load_object

AGENTS: dict[str, str] = {
    "no_teaching": "datagym.agents.simple_teachers:NoTeachingAgent",
    "random": "datagym.agents.simple_teachers:RandomAgent",
    "uniform": "datagym.agents.simple_teachers:UniformAgent",
    "weakest_skill": "datagym.agents.simple_teachers:WeakestSkillAgent",
    "proximal_skill": "datagym.agents.proximal_skill:ProximalSkillAgent",
    "learning_progress": "datagym.agents.learning_progress:LearningProgressAgent",
    "exp3s": "datagym.agents.exp3s:Exp3SAgent",
}

DEFAULT_AGENT = "proximal_skill"


def agent_class(name: str) -> type:
    from datagym.agents.base import Agent

    if name in AGENTS:
        cls = load_object(AGENTS[name])
    elif ":" in name:
        cls = load_object(name)
    else:
        raise UnknownNameError(
            f"Unknown agent {name!r}; expected one of {sorted(AGENTS)} or 'package.module:Class'."
        )
    if not (isinstance(cls, type) and issubclass(cls, Agent)):
        raise UnknownNameError(f"{name!r} is {cls!r}, expected a subclass of datagym.agents.Agent.")
    return cls


def agent_options(cls: type) -> list[str] | None:
    """The keyword options ``cls`` takes besides its spaces (None: it takes any)."""
    params = inspect.signature(cls.__init__).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    skip = {"self", "action_space", "observation_space"}
    return sorted(p.name for p in params if p.name not in skip and p.kind is not inspect.Parameter.VAR_POSITIONAL)


def make_agent(name: str, env: gym.Env, **options: Any):
    """Build agent ``name`` for ``env``'s spaces, with its keyword options."""
    cls = agent_class(name)
    accepted = agent_options(cls)
    if accepted is not None:
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise ConfigError(f"Unknown option(s) {unknown} for agent {name!r}; expected some of {accepted}.")
    return cls(env.action_space, env.observation_space, **options)
