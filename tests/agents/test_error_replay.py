"""Error replay (LLM2LLM): variants of the failed questions keep their structure and skill and
differ from them; the step's problems are spread over the errors shown by error count."""

from __future__ import annotations

import json
import re
from collections import Counter

import numpy as np
import pytest

from datagym.agents import make_agent
from datagym.agents.error_replay import largest_remainder
from datagym.envs.arithmetic.task import ArithmeticTask


@pytest.fixture(scope="module")
def env(open_ended_env):
    return open_ended_env


@pytest.fixture
def agent(env):
    agent = make_agent("error_replay", env)
    agent.reset(seed=0)
    return agent


def _skeleton(question: str) -> tuple[str, tuple[int, ...]]:
    """The question with its numbers blanked, and each number's digit count."""
    return re.sub(r"\d+", "#", question), tuple(len(m) for m in re.findall(r"\d+", question))


def _observation(errors: list[tuple[str, str]], error_counts: dict[str, int], max_problems: int) -> str:
    """A hand-made Open-Ended observation with the given errors shown and per-skill counts."""
    task = ArithmeticTask()
    skills = {
        name: {"errors": error_counts.get(name, 0), "total": 50, "accuracy": 1 - error_counts.get(name, 0) / 50,
               "loss": 1.0, "seen": 0}
        for name in task.skill_names
    }
    return json.dumps({
        "budget_left": 3840, "step_budget": max_problems, "max_problems": max_problems, "total_budget": 3840,
        "errors_total": sum(error_counts.values()), "skills": skills,
        "errors": [{"skill": s, "question": q, "student_answer": "0", "gold_answer": task.label(q)} for s, q in errors],
    })


def test_variants_keep_structure_and_skill_and_differ_for_every_validation_question(agent):
    task = agent.task
    kept = total = 0
    for skill, examples in task.heldout("validation").items():
        for example in examples[:20]:
            problem = agent.variant(example.question, skill)
            assert problem is not None
            assert problem["question"] != example.question
            assert _skeleton(problem["question"]) == _skeleton(example.question)  # operators, parentheses, digits
            assert problem["answer"] == task.label(problem["question"])
            kept += task.classify(problem["question"]) == skill
            total += 1
    assert kept == total  # every arithmetic skill can be kept by some redraw within 20 attempts


@pytest.mark.parametrize(
    "question, skill",
    [("57*100", "mul_by_10"), ("84/7", "div_exact"), ("23-58", "sub_negative"), ("27+58", "add_carry"),
     ("68-25", "sub_no_borrow"), ("57?57", "compare_same_length"), ("9?120", "compare_diff_length"),
     ("(3+4)*6", "add_then_mul"), ("3*4+27", "mul_then_add"), ("85%7", "mod_1digit")],
)
def test_variants_of_hard_cases_keep_their_skill(agent, question, skill):
    task = agent.task
    assert task.classify(question) == skill
    variants = [agent.variant(question, skill) for _ in range(25)]
    for problem in variants:
        assert task.classify(problem["question"]) == skill
        assert problem["question"] != question
    assert len({p["question"] for p in variants}) > 10  # really redrawn, not one fixed variant


def test_single_digits_stay_out_of_zero_and_one(agent):
    for _ in range(50):
        question = agent.variant("34*7", "mul_1digit")["question"]
        assert int(question.split("*")[1]) >= 2


def test_a_question_without_numbers_falls_back_to_the_skills_generator(agent):
    problem = agent.variant("what is seven plus two", "add_carry")
    assert agent.task.classify(problem["question"]) == "add_carry"
    assert agent.variant("what is seven plus two", "not_a_skill") is None


def test_no_answerable_variant_falls_back_to_the_generator(agent):
    # No redraw of its numbers makes an unclosed parenthesis answerable.
    problem = agent.variant("(84/7", "div_exact")
    assert agent.task.classify(problem["question"]) == "div_exact"
    assert problem["answer"] == agent.task.label(problem["question"])


def test_problems_are_spread_by_each_skills_error_count_and_round_robin_over_its_errors(agent):
    errors = [("mul_by_10", "57*10"), ("mul_by_10", "57*100"), ("mul_by_10", "3*100"), ("sub_borrow", "62-37")]
    observation = _observation(errors, {"mul_by_10": 30, "sub_borrow": 10, "add_carry": 50}, max_problems=40)
    problems = json.loads(agent.act(observation, {}))
    assert len(problems) == 40
    skills = Counter(agent.task.classify(p["question"]) for p in problems)
    # add_carry has more errors but none shown: only the errors shown are replayed.
    assert skills == {"mul_by_10": 30, "sub_borrow": 10}
    shapes = Counter(_skeleton(p["question"]) for p in problems)
    assert shapes[_skeleton("57*10")] == shapes[_skeleton("57*100")] == shapes[_skeleton("3*100")] == 10
    assert shapes[_skeleton("62-37")] == 10
    assert all(p["question"] not in {q for _, q in errors} for p in problems)


def test_with_no_error_shown_it_writes_generator_problems_by_error_count(agent):
    observation = _observation([], {"mod_1digit": 30, "add_3digit": 10}, max_problems=20)
    problems = json.loads(agent.act(observation, {}))
    assert Counter(agent.task.classify(p["question"]) for p in problems) == {"mod_1digit": 15, "add_3digit": 5}
    perfect = _observation([], {}, max_problems=30)
    counts = Counter(agent.task.classify(p["question"]) for p in json.loads(agent.act(perfect, {})))
    assert sum(counts.values()) == 30 and set(counts.values()) == {2}


def test_no_budget_no_problems(agent):
    assert agent.act(_observation([("sub_borrow", "62-37")], {"sub_borrow": 1}, max_problems=0), {}) == "[]"


def test_a_whole_episode_in_the_env_trains_on_every_problem(env):
    agent = make_agent("error_replay", env)
    agent.reset(seed=1)
    obs, info = env.reset(seed=1)
    done = False
    while not done:
        shown = {e["question"] for e in json.loads(obs)["errors"]}
        action = agent.act(obs, info)
        assert not shown & {p["question"] for p in json.loads(action)}  # variants, never the originals
        obs, _, terminated, truncated, info = env.step(action)
        done = terminated or truncated
        assert info["teacher/malformed"] == {} and info["teacher/dropped"] == {}
        assert set(info["teacher/rejected"]) <= {"test_contamination"}  # the only loss: a rare test question
        assert info["teacher/accepted"] >= 28
    assert terminated and info["teacher/budget_left"] == 0


@pytest.mark.parametrize("attempts", [0, -1, 1.5, True])
def test_bad_attempts_are_refused(env, attempts):
    with pytest.raises(ValueError, match=f"Expected attempts to be a positive integer, got {attempts!r}."):
        make_agent("error_replay", env, attempts=attempts)


def test_largest_remainder_sums_exactly_and_is_proportional():
    assert largest_remainder(np.array([30, 10]), 40).tolist() == [30, 10]
    assert largest_remainder(np.array([1, 1, 1]), 4).tolist() == [2, 1, 1]
    assert largest_remainder(np.array([0, 0]), 5).tolist() == [0, 0]
    assert largest_remainder(np.array([2, 1]), 0).tolist() == [0, 0]


def test_seed_share_keeps_generator_problems_for_every_skill(env):
    agent = make_agent("error_replay", env, seed_share=0.5)
    agent.reset(seed=0)
    observation = _observation([("sub_borrow", "62-37")], {"sub_borrow": 10}, max_problems=60)
    problems = json.loads(agent.act(observation, {}))
    assert len(problems) == 60
    seed, replay = problems[:30], problems[30:]
    assert Counter(agent.task.classify(p["question"]) for p in seed) == {s: 2 for s in agent.skill_names}
    assert {_skeleton(p["question"]) for p in replay} == {_skeleton("62-37")}
    assert all(agent.task.classify(p["question"]) == "sub_borrow" for p in replay)


def test_seed_share_zero_is_pure_replay(env):
    a, b = make_agent("error_replay", env), make_agent("error_replay", env, seed_share=0.0)
    a.reset(seed=2)
    b.reset(seed=2)
    observation = _observation([("sub_borrow", "62-37"), ("mod_1digit", "85%7")], {"sub_borrow": 5, "mod_1digit": 5}, 20)
    assert a.act(observation, {}) == b.act(observation, {})


@pytest.mark.parametrize("share", [-0.1, 1.5, "half", True])
def test_bad_seed_share_is_refused(env, share):
    with pytest.raises(ValueError, match=re.escape(f"Expected seed_share to be a number in [0, 1], got {share!r}.")):
        make_agent("error_replay", env, seed_share=share)
