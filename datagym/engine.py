"""Engines turn a teacher's data-generation plan into examples.

A ``Plan`` says how many examples of each skill to make (and optionally at what difficulty),
or carries examples the teacher wrote itself. The engine only generates; the env verifies
every example with the task's oracle afterwards, whoever wrote it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from datagym.task import Task
from datagym.types import Example


@dataclass
class Plan:
    """What to generate in one step.

    counts: examples to generate per skill.
    difficulty: per-skill difficulty in [0, 1]; a skill left out draws its difficulty at random.
    examples: examples written by the teacher itself (Open-Ended level), verified like the rest.
    """

    counts: dict[str, int] = field(default_factory=dict)
    difficulty: dict[str, float] = field(default_factory=dict)
    examples: list[Example] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(self.counts.values()) + len(self.examples)


class Engine(ABC):
    """Makes examples from a plan."""

    @abstractmethod
    def generate(self, plan: Plan, task: Task, rng: np.random.Generator) -> list[Example]:
        """The examples of ``plan``, unverified, in a deterministic order given ``rng``."""


class ProceduralEngine(Engine):
    """Uses the task's own generators: fast, free, and runs anywhere."""

    def generate(self, plan: Plan, task: Task, rng: np.random.Generator) -> list[Example]:
        out: list[Example] = []
        for skill, count in plan.counts.items():
            difficulty = plan.difficulty.get(skill)
            out.extend(task.generate(skill, rng, difficulty) for _ in range(int(count)))
        out.extend(plan.examples)
        return out
