"""Plans and the procedural engine."""

from __future__ import annotations

import numpy as np
import pytest

from datagym.engine import Engine, Plan, ProceduralEngine, Request
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


def test_plan_size_counts_range_requests_and_extra_cost():
    plan = Plan(counts={"a": 1}, requests=[("b", 4, 0.0, 0.5), Request("c", 2)], extra_cost=7)
    assert plan.size == 1 + 4 + 2 + 7
    assert plan.requests == [Request("b", 4, 0.0, 0.5), Request("c", 2, 0.0, 1.0)]
    assert plan.requested() == {"a": 1, "b": 4, "c": 2}
    assert Plan(extra_cost=32).size == 32 and Plan(extra_cost=32).requested() == {}


@pytest.mark.parametrize(
    "requests, message",
    [
        ([("a", -1, 0.0, 1.0)], "Expected a non-negative integer count in request"),
        ([("a", 1.5, 0.0, 1.0)], "Expected a non-negative integer count in request"),
        ([("a", 1, 0.6, 0.4)], "Expected 0 <= low <= high <= 1 in request"),
        ([("a", 1, -0.1, 0.4)], "Expected 0 <= low <= high <= 1 in request"),
        ([("a", 1, 0.0, float("nan"))], "Expected 0 <= low <= high <= 1 in request"),
        ([("a",)], r"Expected each request as \(skill, count, low, high\)"),
    ],
)
def test_plan_refuses_malformed_requests(requests, message):
    with pytest.raises(ValueError, match=message):
        Plan(requests=requests)


def test_plan_refuses_negative_extra_cost():
    with pytest.raises(ValueError, match="Expected extra_cost to be a non-negative integer, got -1"):
        Plan(extra_cost=-1)


def test_procedural_engine_draws_request_difficulties_inside_their_range(task):
    plan = Plan(requests=[("add_carry", 30, 0.0, 1 / 3), ("add_carry", 30, 2 / 3, 1.0), ("mod_1digit", 5, 0.5, 0.5)])
    out = ProceduralEngine().generate(plan, task, np.random.default_rng(0))
    assert [ex.skill for ex in out] == ["add_carry"] * 60 + ["mod_1digit"] * 5
    low, high = out[:30], out[30:60]
    # the task records the difficulty rounded to 4 decimals
    assert all(-1e-4 <= ex.provenance["difficulty"] <= 1 / 3 + 1e-4 for ex in low)
    assert all(2 / 3 - 1e-4 <= ex.provenance["difficulty"] <= 1.0 for ex in high)
    assert all(ex.provenance["difficulty_range"] == [0.0, 1 / 3] for ex in low)
    assert all(ex.provenance["difficulty"] == 0.5 for ex in out[60:])
    # draws spread over the range rather than sitting at one end
    assert np.ptp([ex.provenance["difficulty"] for ex in low]) > 0.15
    assert all(task.label(ex.question) == ex.answer for ex in out)


def test_procedural_engine_orders_counts_then_requests_then_examples_and_is_deterministic(task):
    own = Example("1+1", "2", "add_no_carry", {"source": "agent"})
    plan = Plan(counts={"mul_by_10": 2}, requests=[("add_carry", 3, 0.2, 0.4)], examples=[own], extra_cost=5)
    a = ProceduralEngine().generate(plan, task, np.random.default_rng(1))
    b = ProceduralEngine().generate(plan, task, np.random.default_rng(1))
    c = ProceduralEngine().generate(plan, task, np.random.default_rng(2))
    assert [ex.skill for ex in a] == ["mul_by_10"] * 2 + ["add_carry"] * 3 + ["add_no_carry"]
    assert len(a) == plan.size - plan.extra_cost  # extra cost generates nothing
    assert a == b
    assert [ex.question for ex in a] != [ex.question for ex in c]
