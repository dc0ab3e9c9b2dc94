"""Baseline teachers and the agent interface."""

from datagym.agents.base import Agent, SkillListAgent
from datagym.agents.registry import AGENTS, DEFAULT_AGENT, agent_class, make_agent

__all__ = ["AGENTS", "Agent", "DEFAULT_AGENT", "SkillListAgent", "agent_class", "make_agent"]
