"""Engines turn a teacher's data-generation plan into examples.

A ``Plan`` says how many examples of each skill to make (and optionally at what difficulty,
or within what range of difficulty), or carries examples the teacher wrote itself. The engine
only generates; the env verifies every example with the task's oracle afterwards, whoever
wrote it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from datagym.task import Task
from datagym.types import Example


class Request(NamedTuple):
    """``count`` examples of ``skill``, each with a difficulty drawn uniformly in [low, high)."""

    skill: str
    count: int
    low: float = 0.0
    high: float = 1.0


@dataclass
class Plan:
    """What to generate in one step.

    counts: examples to generate per skill.
    difficulty: per-skill difficulty in [0, 1]; a skill left out draws its difficulty at random.
    requests: ``Request(skill, count, low, high)`` entries (plain 4-tuples are converted):
        examples whose difficulty is drawn uniformly inside a range, e.g. a difficulty band of
        the Skill-Tree level. A skill may appear in several requests with different ranges.
    examples: examples written by the teacher itself (Open-Ended level), verified like the rest.
    extra_cost: budget the step spends on something other than examples (the Skill-Tree
        level's expansions, which measure the student on new nodes). It generates nothing.

    ``size`` (what the step takes from the episode's budget) counts all of them.
    """

    counts: dict[str, int] = field(default_factory=dict)
    difficulty: dict[str, float] = field(default_factory=dict)
    examples: list[Example] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    extra_cost: int = 0
    #: ``counts`` as one int64 entry per skill in the env's skill order, where the env that made
    #: the plan had it at hand (the Skill-List env); the simulated student's fast path reads it
    #: instead of rebuilding it from the dict. It must agree with ``counts``.
    count_vector: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        checked = []
        for item in self.requests:
            try:
                request = Request(*item)
            except TypeError:
                raise ValueError(
                    f"Expected each request as (skill, count, low, high), got {item!r}."
                ) from None
            count_ok = isinstance(request.count, (int, np.integer)) and not isinstance(request.count, bool)
            if not count_ok or request.count < 0:
                raise ValueError(f"Expected a non-negative integer count in request {item!r}, got {request.count!r}.")
            low, high = request.low, request.high
            if not (
                isinstance(low, (int, float, np.number))
                and isinstance(high, (int, float, np.number))
                and math.isfinite(low)
                and math.isfinite(high)
                and 0.0 <= low <= high <= 1.0
            ):
                raise ValueError(
                    f"Expected 0 <= low <= high <= 1 in request {item!r}, got low={low!r}, high={high!r}."
                )
            checked.append(Request(request.skill, int(request.count), float(low), float(high)))
        self.requests = checked
        if isinstance(self.extra_cost, bool) or not isinstance(self.extra_cost, (int, np.integer)) or self.extra_cost < 0:
            raise ValueError(f"Expected extra_cost to be a non-negative integer, got {self.extra_cost!r}.")
        self.extra_cost = int(self.extra_cost)

    @property
    def size(self) -> int:
        return (
            sum(self.counts.values())
            + sum(r.count for r in self.requests)
            + len(self.examples)
            + self.extra_cost
        )

    def requested(self) -> dict[str, int]:
        """Examples asked of each skill, through ``counts`` and ``requests`` together."""
        out: dict[str, int] = {}
        for skill, count in self.counts.items():
            out[skill] = out.get(skill, 0) + int(count)
        for request in self.requests:
            out[request.skill] = out.get(request.skill, 0) + request.count
        return {skill: n for skill, n in out.items() if n}


#: verdicts an engine may give an example before the env verifies it (the env keeps them, counts
#: them in ``teacher/rejected`` and never trains on them): the LLM engine's duplicates of
#: held-out or earlier questions, and problems its LLM did not write
DUPLICATE, NEAR_DUPLICATE, LLM_FAILED = "duplicate", "near_duplicate", "llm_failed"
ENGINE_VERDICTS = frozenset({DUPLICATE, NEAR_DUPLICATE, LLM_FAILED})

#: engines by name (``engine=`` of every env, with ``engine_options``)
ENGINES = {
    "procedural": "datagym.engine:ProceduralEngine",
    "llm": "datagym.llm_engine:LLMEngine",
}


class Engine(ABC):
    """Makes examples from a plan. An engine may also define ``reset()`` (called at each episode's
    start) and ``step_info()`` (keys merged into the step's ``info``), and may reject an example
    before verification by setting its ``verdict`` to one of ``ENGINE_VERDICTS``."""

    @abstractmethod
    def generate(self, plan: Plan, task: Task, rng: np.random.Generator) -> list[Example]:
        """The examples of ``plan``, unverified, in a deterministic order given ``rng``."""


class ProceduralEngine(Engine):
    """Uses the task's own generators: fast, free, and runs anywhere."""

    def generate(self, plan: Plan, task: Task, rng: np.random.Generator) -> list[Example]:
        """``counts`` first, then ``requests`` in order, then the plan's own ``examples``."""
        out: list[Example] = []
        for skill, count in plan.counts.items():
            difficulty = plan.difficulty.get(skill)
            out.extend(task.generate(skill, rng, difficulty) for _ in range(int(count)))
        for request in plan.requests:
            for _ in range(request.count):
                difficulty = request.low + (request.high - request.low) * float(rng.random())
                example = task.generate(request.skill, rng, difficulty)
                # The task may round the difficulty it records; the range says which band asked.
                example.provenance["difficulty_range"] = [request.low, request.high]
                out.append(example)
        out.extend(plan.examples)
        return out


def make_engine(name: str, **options) -> Engine:
    """The engine ``name`` (``procedural``, ``llm`` or ``package.module:Class``) with its options."""
    from datagym.errors import UnknownNameError
    from datagym.registration import check_options, load_object

    if name in ENGINES:
        factory = load_object(ENGINES[name])
    elif ":" in name:
        factory = load_object(name)
    else:
        raise UnknownNameError(f"Unknown engine {name!r}; expected one of {sorted(ENGINES)} or 'package.module:Class'.")
    check_options("engine", name, factory, options)
    engine = factory(**options)
    if not isinstance(engine, Engine):
        raise UnknownNameError(f"Engine {name!r} built {type(engine).__name__}, expected a datagym.engine.Engine.")
    return engine
