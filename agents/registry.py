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
    "triage": "datagym.agents.triage:TriageAgent",
    "learning_progress": "datagym.agents.learning_progress:LearningProgressAgent",
    "exp3s": "datagym.agents.exp3s:Exp3SAgent",
    "alp_gmm": "datagym.agents.alp_gmm:ALPGMMAgent",
    "open_ended_random": "datagym.agents.open_ended_simple:OpenEndedRandomAgent",
    "open_ended_uniform": "datagym.agents.open_ended_simple:OpenEndedUniformAgent",
    "error_replay": "datagym.agents.error_replay:ErrorReplayAgent",
    "proximal_replay": "datagym.agents.proximal_replay:ProximalReplayAgent",
    "open_ended_triage": "datagym.agents.open_ended_triage:OpenEndedTriageAgent",
    "explore_exploit": "datagym.agents.explore_exploit:ExploreExploitAgent",
    "tree_random": "datagym.agents.tree_baselines:TreeRandomAgent",
    "tree_uniform": "datagym.agents.tree_baselines:TreeUniformAgent",
    "tree_triage": "datagym.agents.tree_triage:TreeTriageAgent",
    # trained by RL on the simulated student (needs the rl extra)
    "ppo_sim": "datagym.agents.ppo_sim:PPOSimAgent",
    "open_ended_ppo_sim": "datagym.agents.open_ended_allocation:OpenEndedPPOSimAgent",
    # LLM policies: they need an OpenAI-compatible endpoint (--agent-options base_url and model)
    "llm_open_ended": "datagym.agents.llm_open_ended:LLMOpenEndedAgent",
    "llm_skill_list": "datagym.agents.llm_skill_list:LLMSkillListAgent",
    "llm_skill_tree": "datagym.agents.llm_skill_tree:LLMSkillTreeAgent",
}

#: the agent `datagym run` uses for an env of each level when --agent is not given: the level's
#: best measured teacher on the v1 board (the triage family; until then proximal_skill,
#: error_replay and explore_exploit, which all end below their level's random teacher on v1)
DEFAULT_AGENTS: dict[str, str] = {
    "skill_list": "triage",
    "open_ended": "open_ended_triage",
    "skill_tree": "tree_triage",
}
DEFAULT_AGENT = DEFAULT_AGENTS["skill_list"]

#: constructor arguments filled in from the env, never options a user passes: the spaces, and
#: the env's attributes of these names for an agent whose constructor names them (the task's
#: generators and oracle; the Skill-Tree level's node names and expansion cost; the step budget)
_FROM_ENV = ("action_space", "observation_space", "task", "node_names", "expand_cost", "step_budget")


def default_agent(env: gym.Env | str) -> str:
    """The default agent for ``env`` (an env, or the id of a registered datagym env or of a
    user's TeacherEnv)."""
    if isinstance(env, str):
        from datagym.registration import env_level

        level = env_level(env)
    else:
        level = getattr(env.unwrapped, "level", "skill_list")
    return DEFAULT_AGENTS.get(level, DEFAULT_AGENT)


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


def offline_agents() -> list[str]:
    """The registered agents that run with nothing but the env: every one but the LLM policies,
    which need an endpoint (``needs_endpoint``)."""
    return [name for name in AGENTS if not getattr(agent_class(name), "needs_endpoint", False)]


def agent_options(cls: type) -> list[str] | None:
    """The keyword options ``cls`` takes besides its spaces (None: it takes any)."""
    params = inspect.signature(cls.__init__).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    skip = {"self", *_FROM_ENV}
    return sorted(p.name for p in params if p.name not in skip and p.kind is not inspect.Parameter.VAR_POSITIONAL)


def make_agent(name: str, env: gym.Env, **options: Any):
    """Build agent ``name`` for ``env``'s spaces, with its keyword options.

    The agent must be written for the env's level (``Agent.levels``). An agent whose
    constructor takes a ``task`` argument gets the env's task (its generators and oracle), as
    a teacher that writes its own problems needs them.
    """
    cls = agent_class(name)
    level = getattr(env.unwrapped, "level", "skill_list")
    if level not in cls.levels:
        fitting = sorted(n for n in AGENTS if level in agent_class(n).levels)
        raise ConfigError(
            f"Agent {name!r} is written for {list(cls.levels)} envs, got a {level!r} env; "
            f"agents for it: {fitting}."
        )
    accepted = agent_options(cls)
    if accepted is not None:
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise ConfigError(f"Unknown option(s) {unknown} for agent {name!r}; expected some of {accepted}.")
    parameters = inspect.signature(cls.__init__).parameters
    raw = env.unwrapped
    given = {"task": lambda: raw.task, "node_names": lambda: raw.node_names, "expand_cost": lambda: raw.expand_cost,
             "step_budget": lambda: raw.config.step_budget}
    options = {**options, **{name: value() for name, value in given.items() if name in parameters}}
    return cls(env.action_space, env.observation_space, **options)
