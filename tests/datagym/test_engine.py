"""Plans and the procedural engine."""

from __future__ import annotations

import numpy as np
import pytest

from datagym.engine import Engine, Plan, ProceduralEngine
from datagym.envs.arithmetic.task import ArithmeticTask
from datagym.types import Example


@pytest.fixture(scope="module")
def task():
    return ArithmeticTask(heldout_size=2)


def test_plan_size_counts_requests_and_written_examples():
    assert Plan().size == 0
    plan = Plan(counts={"a": 3, "b": 0, "c": 2}, examples=[Example("1+1", "2", "a")])
    assert plan.size == 6


def test_procedural_engine_makes_what_the_plan_asks_in_order(task):
    own = Example("1+1", "2", "add_no_carry", {"source": "agent"})
    plan = Plan(counts={"mul_by_10": 2, "add_carry": 3}, examples=[own])
    out = ProceduralEngine().generate(plan, task, np.random.default_rng(0))
    assert [ex.skill for ex in out] == ["mul_by_10"] * 2 + ["add_carry"] * 3 + ["add_no_carry"]
    assert out[-1] is own
    assert all(ex.verdict == "unverified" for ex in out)  # the env verifies, not the engine
    assert all(task.label(ex.question) == ex.answer for ex in out)


def test_procedural_engine_uses_the_plans_difficulty(task):
    plan = Plan(counts={"add_3digit": 5, "add_carry": 5}, difficulty={"add_3digit": 0.0})
    out = ProceduralEngine().generate(plan, task, np.random.default_rng(0))
    assert all(ex.provenance["difficulty"] == 0.0 for ex in out if ex.skill == "add_3digit")
    assert all(0.0 <= ex.provenance["difficulty"] <= 1.0 for ex in out)


def test_procedural_engine_is_deterministic_given_the_rng(task):
    plan = Plan(counts={s: 2 for s in task.skill_names})
    a = ProceduralEngine().generate(plan, task, np.random.default_rng(5))
    b = ProceduralEngine().generate(plan, task, np.random.default_rng(5))
    c = ProceduralEngine().generate(plan, task, np.random.default_rng(6))
    assert a == b
    assert [ex.question for ex in a] != [ex.question for ex in c]


def test_engine_is_abstract():
    with pytest.raises(TypeError):
        Engine()  # type: ignore[abstract]
