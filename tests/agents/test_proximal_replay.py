"""Proximal replay: a placement step over every skill, then variants of the errors of the k
open skills with the lowest validation loss, equal shares, generator problems where no error
of a chosen skill is shown."""

from __future__ import annotations

import json
from collections import Counter

import gymnasium as gym
import pytest

from datagym.agents import make_agent
from datagym.envs.arithmetic.task import ArithmeticTask
from datagym.runner import run_episode

TASK = ArithmeticTask()


@pytest.fixture(scope="module")
def env(open_ended_env):
    return open_ended_env


def _observation(accuracy: dict[str, float], loss: dict[str, float], seen: int, errors: list[tuple[str, str]],
                 max_problems: int = 60) -> str:
    skills = {
        name: {"errors": int(round(50 * (1 - accuracy.get(name, 0.0)))), "total": 50,
               "accuracy": accuracy.get(name, 0.0), "loss": loss.get(name, 3.0), "seen": seen}
        for name in TASK.skill_names
    }
    return json.dumps({
        "budget_left": 3840, "step_budget": max_problems, "max_problems": max_problems, "total_budget": 3840,
        "errors_total": sum(s["errors"] for s in skills.values()), "skills": skills,
        "errors": [{"skill": s, "question": q, "student_answer": "0", "gold_answer": TASK.label(q)} for s, q in errors],
    })


def _skills_of(action: str) -> Counter:
    return Counter(TASK.classify(p["question"]) for p in json.loads(action))


def test_the_placement_step_spreads_generator_problems_over_every_skill(env):
    agent = make_agent("proximal_replay", env)
    agent.reset(seed=0)
    action = agent.act(_observation({}, {}, seen=0, errors=[("add_carry", "27+58")], max_problems=45), {})
    counts = _skills_of(action)
    assert set(counts) == set(TASK.skill_names) and set(counts.values()) == {3}


def test_after_placement_the_k_open_skills_of_lowest_loss_get_equal_shares(env):
    agent = make_agent("proximal_replay", env, k=2)
    agent.reset(seed=0)
    accuracy = {"compare_diff_length": 0.95}  # mastered (>= 0.9): lowest loss, yet no data
    loss = {"compare_diff_length": 0.01, "add_no_carry": 0.2, "sub_no_borrow": 0.3, "mul_2digit": 2.0}
    errors = [("add_no_carry", "23+45"), ("mul_2digit", "34*27")]
    action = agent.act(_observation(accuracy, loss, seen=100, errors=errors, max_problems=40), {})
    problems = json.loads(action)
    assert _skills_of(action) == Counter({"add_no_carry": 20, "sub_no_borrow": 20})
    # add_no_carry's problems are variants of its error shown: same shape, new numbers, oracle answers
    add = [p for p in problems if TASK.classify(p["question"]) == "add_no_carry"]
    assert all(p["question"] != "23+45" and len(p["question"]) == 5 and p["answer"] == TASK.label(p["question"])
               for p in add)
    assert len({p["question"] for p in add}) > 10


def test_options_are_checked(env):
    with pytest.raises(ValueError, match=r"Expected k an integer in \[1, 15\]"):
        make_agent("proximal_replay", env, k=0)
    with pytest.raises(ValueError, match=r"Expected mastery a number in \(0, 1\]"):
        make_agent("proximal_replay", env, mastery=1.5)


def test_it_runs_an_episode_and_every_problem_is_accepted(fast_env_kwargs):
    env = gym.make("datagym/Arithmetic-OpenEnded-v1", **fast_env_kwargs)
    summary = run_episode(env, make_agent("proximal_replay", env), seed=0)
    assert summary["examples_generated"] == fast_env_kwargs["total_budget"]
    rejected = summary["examples_rejected"]
    assert set(rejected) <= {"test_contamination"}, rejected
