"""``llm_open_ended``: DataEnvGym's open-ended teacher. An LLM is shown a sample of the student's
errors and writes new problems as JSON; the env's oracle labels or checks every one."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
from pydantic import BaseModel

from datagym.agents.llm_agent import LLMPolicy, render
from datagym.agents.open_ended_agent import OpenEndedAgent
from datagym.llm import complete_structured_many
from datagym.task import Task

SYSTEM = "You write training data for a machine-learning student. You reply with JSON only."


class WrittenProblem(BaseModel):
    question: str
    answer: str | int | float | None = None


class WrittenProblems(BaseModel):
    problems: list[WrittenProblem]


class LLMOpenEndedAgent(LLMPolicy, OpenEndedAgent):
    """An LLM writes each step's problems from the student's errors (DataEnvGym's open-ended policy).

    Each step asks ``ceil(max_problems / problems_per_request)`` requests at once (``concurrency``
    in flight), each shown ``errors_per_request`` of the observation's errors (a different draw per
    request) and the task's skills with one generated example each, and asked for
    ``problems_per_request`` problems. Replies that are not the JSON asked for get one repair
    turn; what still fails is counted (``teacher/llm_failures``) and the step goes on with the
    problems it has, none at all if need be: the env then trains on nothing and the episode
    still finishes. Options: the LLM client's settings (see ``datagym.agents.llm_agent``), and
    ``problems_per_request`` (default 16) and ``errors_per_request`` (default 10).
    """

    levels = ("open_ended",)

    def __init__(self, action_space: gym.Space, observation_space: gym.Space, task: Task,
                 problems_per_request: int = 16, errors_per_request: int = 10, **llm_options: Any) -> None:
        super().__init__(action_space, observation_space, task)
        for name, value in (("problems_per_request", problems_per_request), ("errors_per_request", errors_per_request)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                from datagym.errors import ConfigError

                raise ConfigError(f"Expected {name} to be a positive integer, got {value!r}.")
        self.problems_per_request = problems_per_request
        self.errors_per_request = errors_per_request
        self._init_llm(llm_options)

    def prompt(self, state: dict[str, Any], errors: list[dict[str, Any]], count: int) -> str:
        """The user message for one request (``open_ended.j2``)."""
        skills = []
        for name, stats in state["skills"].items():
            node = self.task.skill_tree.nodes.get(name)
            example = self.task.generate(name, self.rng) if name in self.skill_names else None
            skills.append({
                "name": name, "description": getattr(node, "description", "") or name.replace("_", " "),
                "accuracy": stats["accuracy"], "errors": stats["errors"], "total": stats["total"], "seen": stats["seen"],
                "example_question": example.question if example else "", "example_answer": example.answer if example else "",
            })
        return render("open_ended.j2", task_name=self.task.name, skills=skills, errors=errors,
                      errors_total=state["errors_total"], count=count)

    def act(self, observation: Any, info: dict[str, Any]) -> str:
        self._begin_step()
        state = self.read(observation)
        wanted = self.problem_count(state)
        if wanted == 0:
            return self.write([])
        errors = list(state.get("errors", []))
        requests = math.ceil(wanted / self.problems_per_request)
        conversations = []
        for k in range(requests):
            count = min(self.problems_per_request, wanted - k * self.problems_per_request)
            shown = min(self.errors_per_request, len(errors))
            chosen = sorted(self.rng.choice(len(errors), size=shown, replace=False).tolist()) if shown else []
            conversations.append([{"role": "system", "content": SYSTEM},
                                  {"role": "user", "content": self.prompt(state, [errors[i] for i in chosen], count)}])
        results = complete_structured_many(self.client, conversations, WrittenProblems,
                                           [self._sample(k) for k in range(len(conversations))])
        problems: list[dict[str, Any]] = []
        for value in results:
            for problem in (value.problems if value is not None else []):
                item: dict[str, Any] = {"question": problem.question}
                if problem.answer is not None:
                    item["answer"] = problem.answer
                problems.append(item)
        self._step_extra = {"teacher/llm_problems_written": len(problems),
                            "teacher/llm_unusable_replies": sum(value is None for value in results)}
        return self.write(problems[:wanted])
