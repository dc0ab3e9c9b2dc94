"""The base of the Open-Ended level's agents: reads the JSON observation, writes the JSON action."""

from __future__ import annotations

import json
from typing import Any

import gymnasium as gym

from datagym.agents.base import Agent
from datagym.task import Task


class OpenEndedAgent(Agent):
    """An agent for the Open-Ended env: its observation and its action are JSON text.

    It is built with the env's task (``make_agent`` passes it), whose generators and oracle a
    teacher that writes problems needs. ``read`` turns an observation into a dict (see
    ``OpenEndedEnv``'s docstring for the schema); ``write`` turns problems into an action.
    """

    levels = ("open_ended",)

    def __init__(self, action_space: gym.Space, observation_space: gym.Space, task: Task) -> None:
        super().__init__(action_space, observation_space)
        if not isinstance(task, Task):
            raise TypeError(f"Expected task to be a datagym Task (the env's task), got {type(task).__name__}.")
        self.task = task
        self.skill_names: tuple[str, ...] = tuple(task.skill_names)

    @staticmethod
    def read(observation: Any) -> dict[str, Any]:
        """The observation as a dict (a dict passes through, for agents driven by hand)."""
        if isinstance(observation, dict):
            return observation
        if not isinstance(observation, str):
            raise TypeError(f"Expected an Open-Ended observation (JSON text), got {type(observation).__name__}.")
        return json.loads(observation)

    def write(self, problems: list[dict[str, str]]) -> str:
        """The action for ``problems``: compact ASCII JSON that fits the action space."""
        text = json.dumps(problems, ensure_ascii=True, separators=(",", ":"))
        limit = getattr(self.action_space, "max_length", None)
        while limit is not None and len(text) > limit and problems:
            problems = problems[: len(problems) * 9 // 10]
            text = json.dumps(problems, ensure_ascii=True, separators=(",", ":"))
        return text

    @staticmethod
    def problem_count(state: dict[str, Any]) -> int:
        """How many problems this step takes: the observation's ``max_problems``."""
        return max(0, int(state.get("max_problems", 0)))

    def generated(self, skill: str) -> dict[str, str]:
        """One problem of ``skill`` from the task's generator, at a random difficulty."""
        example = self.task.generate(skill, self.rng)
        return {"question": example.question, "answer": example.answer}
