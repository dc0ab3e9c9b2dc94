"""``llm_skill_list``: an LLM reads per-skill accuracy and its trend and returns the allocation."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from pydantic import BaseModel

from datagym.agents.base import SkillListAgent
from datagym.agents.llm_agent import MAX_RATIONALE_CHARS, LLMPolicy, render
from datagym.task import Task


class Allocation(BaseModel):
    weights: dict[str, float]
    difficulty: dict[str, float] | None = None
    rationale: str = ""


def trend(now: float, before: float | None) -> str:
    return "first measurement" if before is None else f"{now - before:+.2f} since the last step"


class LLMSkillListAgent(LLMPolicy, SkillListAgent):
    """Each step an LLM is shown every skill's accuracy, its change since the last step, its
    answer loss and the examples seen, and replies with a weight per skill (and, where the env has
    difficulty control, a difficulty per skill) and a short rationale, kept in the step's record
    (``teacher/llm_rationale`` in ``steps.jsonl``). A reply that cannot be used after one repair
    turn, or whose weights are all zero or name no skill, gives the uniform allocation for the
    step (``teacher/llm_fallback``). Options: the LLM client's settings
    (``datagym.agents.llm_agent``)."""

    levels = ("skill_list",)

    def __init__(self, action_space: gym.Space, observation_space: gym.Space, task: Task, step_budget: int = 0,
                 **llm_options: Any) -> None:
        super().__init__(action_space, observation_space)
        self.task = task
        self.skill_names = tuple(task.skill_names)
        if len(self.skill_names) != self.n_skills:
            raise ValueError(f"Expected a task with {self.n_skills} skills (the action's size), got {len(self.skill_names)}.")
        self.step_budget = int(step_budget)
        self._init_llm(llm_options)

    def prompt(self, observation: dict[str, Any]) -> str:
        accuracy = np.asarray(observation["accuracy"], dtype=np.float64)
        loss = np.asarray(observation["loss"], dtype=np.float64)
        seen = np.asarray(observation["examples_seen"], dtype=np.float64)
        skills = [
            {"name": name, "description": self.task.skill_tree.nodes[name].description or name.replace("_", " "),
             "accuracy": float(accuracy[i]), "loss": float(loss[i]), "seen": int(seen[i]),
             "trend": trend(float(accuracy[i]), None if self._previous is None else float(self._previous[i]))}
            for i, name in enumerate(self.skill_names)
        ]
        return render("skill_list.j2", task_name=self.task.name, skills=skills, step=self.steps_taken,
                      step_budget=self.step_budget, budget_left=int(np.asarray(observation["budget_left"]).ravel()[0]),
                      difficulty_control=self.difficulty_control)

    def act(self, observation: Any, info: dict[str, Any]) -> Any:
        self._begin_step()
        reply = self._ask(self.prompt(observation), Allocation)
        self._previous = np.asarray(observation["accuracy"], dtype=np.float64).copy()
        weights = np.zeros(self.n_skills)
        difficulty = np.full(self.n_skills, self.default_difficulty)
        unknown = 0
        if reply is not None:
            index = {name: i for i, name in enumerate(self.skill_names)}
            for name, value in reply.weights.items():
                if name in index and np.isfinite(value):
                    weights[index[name]] = max(0.0, float(value))
                else:
                    unknown += 1
            for name, value in (reply.difficulty or {}).items():
                if name in index and np.isfinite(value):
                    difficulty[index[name]] = float(np.clip(value, 0.0, 1.0))
        fallback = weights.sum() <= 0
        if fallback:
            weights[:] = 1.0
        self._step_extra = {"teacher/llm_fallback": int(fallback), "teacher/llm_unknown_skills": unknown,
                            "teacher/llm_rationale": (reply.rationale if reply is not None else "")[:MAX_RATIONALE_CHARS]}
        return self.weights(weights / weights.max(), difficulty=difficulty)
