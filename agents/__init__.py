"""Baseline teachers and the agent interface."""

from datagym.agents.base import Agent, SkillListAgent
from datagym.agents.registry import (
    AGENTS, DEFAULT_AGENT, DEFAULT_AGENTS, agent_class, default_agent, make_agent, offline_agents,
)

__all__ = [
    "AGENTS",
    "Agent",
    "DEFAULT_AGENT",
    "DEFAULT_AGENTS",
    "SkillListAgent",
    "agent_class",
    "default_agent",
    "make_agent",
    "offline_agents",
]
