"""``llm_skill_tree``: an LLM chooses the nodes of the skill tree to expand and the allocation."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from pydantic import BaseModel

from datagym.agents.llm_agent import MAX_RATIONALE_CHARS, LLMPolicy, render
from datagym.agents.llm_skill_list import trend
from datagym.agents.skill_tree_agent import SkillTreeAgent
from datagym.task import Task

KINDS = {0: "family", 1: "skill", 2: "difficulty band"}


class TreePlan(BaseModel):
    expand: list[str] = []
    allocation: dict[str, float]
    rationale: str = ""


class LLMSkillTreeAgent(LLMPolicy, SkillTreeAgent):
    """Each step an LLM is shown the visible nodes of the tree (name, kind, accuracy and its
    change, loss, examples seen, whether it can be expanded) and replies with the nodes to expand
    and a weight per visible node, with a short rationale (``teacher/llm_rationale``). Names it
    gives that are not expandable or not visible are dropped and counted
    (``teacher/llm_unknown_nodes``); a reply that cannot be used, or allocates nothing, gives
    equal weights over the deepest visible nodes and no expansion (``teacher/llm_fallback``).
    Options: the LLM client's settings (``datagym.agents.llm_agent``)."""

    levels = ("skill_tree",)

    def __init__(self, action_space: gym.Space, observation_space: gym.Space, task: Task,
                 node_names: tuple[str, ...] = (), expand_cost: int = 0, step_budget: int = 0,
                 **llm_options: Any) -> None:
        super().__init__(action_space, observation_space)
        if len(node_names) != self.n_nodes:
            raise ValueError(f"Expected {self.n_nodes} node names (the env's node_names), got {len(node_names)}.")
        self.task = task
        self.node_names = tuple(node_names)
        self.expand_cost, self.step_budget = int(expand_cost), int(step_budget)
        self._init_llm(llm_options)

    def prompt(self, observation: dict[str, Any]) -> str:
        visible, _, expandable = self.masks(observation)
        accuracy = np.asarray(observation["accuracy"], dtype=np.float64)
        loss = np.asarray(observation["loss"], dtype=np.float64)
        seen = np.asarray(observation["examples_seen"], dtype=np.float64)
        depth = np.asarray(observation["depth"])
        nodes = []
        for i in np.flatnonzero(visible):
            name = self.node_names[i]
            node = self.task.skill_tree.nodes.get(name)
            nodes.append({
                "name": name, "kind": KINDS.get(int(depth[i]), "node"),
                "description": getattr(node, "description", "") if node is not None else "",
                "accuracy": float(accuracy[i]), "loss": float(loss[i]), "seen": int(seen[i]),
                "expandable": bool(expandable[i]),
                "trend": trend(float(accuracy[i]), None if self._previous is None or self._previous[i] < 0
                               else float(self._previous[i])),
            })
        return render("skill_tree.j2", task_name=self.task.name, nodes=nodes, step=self.steps_taken,
                      expand_cost=self.expand_cost, step_budget=self.step_budget,
                      budget_left=int(np.asarray(observation["budget_left"]).ravel()[0]))

    def act(self, observation: Any, info: dict[str, Any]) -> dict[str, np.ndarray]:
        self._begin_step()
        visible, frontier, expandable = self.masks(observation)
        reply = self._ask(self.prompt(observation), TreePlan)
        self._previous = np.where(visible, np.asarray(observation["accuracy"], dtype=np.float64), -1.0)
        index = {name: i for i, name in enumerate(self.node_names)}
        expand = np.zeros(self.n_nodes, dtype=bool)
        allocation = np.zeros(self.n_nodes)
        unknown = 0
        if reply is not None:
            for name in reply.expand:
                i = index.get(name)
                if i is not None and expandable[i]:
                    expand[i] = True
                else:
                    unknown += 1
            for name, value in reply.allocation.items():
                i = index.get(name)
                if i is not None and visible[i] and np.isfinite(value):
                    allocation[i] = max(0.0, float(value))
                else:
                    unknown += 1
        fallback = allocation.sum() <= 0
        if fallback:
            expand[:] = False
            allocation[frontier] = 1.0
        self._step_extra = {"teacher/llm_fallback": int(fallback), "teacher/llm_unknown_nodes": unknown,
                            "teacher/llm_rationale": (reply.rationale if reply is not None else "")[:MAX_RATIONALE_CHARS]}
        return self.action(expand, allocation)
