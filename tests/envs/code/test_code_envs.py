"""The Code envs: agent-written programs at the Open-Ended level are labelled by running them in
the sandbox; programs that cannot be labelled are counted and never trained on."""

from __future__ import annotations

import json

import gymnasium as gym

from datagym.task import ACCEPTED

from tests.conftest import FAST_STUDENT


def make(level: str):
    return gym.make(f"datagym/Code-{level}-v0", total_budget=96, step_budget=32,
                    student_options={**FAST_STUDENT, "max_new_tokens": 16, "reverse_digits": False})


def test_written_programs_are_labelled_in_the_sandbox_and_the_rest_rejected():
    env = make("OpenEnded")
    env.reset(seed=0)
    problems = [
        {"question": "def g(s):\n    return s.upper()[::-1]\ng('abc')"},  # no answer: the oracle labels it
        {"question": "def f(n):\n    return n * 3\nf(4)", "answer": "12"},
        {"question": "def f(n):\n    return n * 3\nf(5)", "answer": "16"},  # a wrong answer: corrected
        {"question": "def f():\n    while True:\n        pass\nf()"},  # never ends
        {"question": "import os\nos.kill(os.getppid(), 9)\n1"},  # hostile: the kill is refused, the program fails
        {"question": "def f():\n    return f\nf()"},  # a value that is no literal
    ]
    _, _, _, _, info = env.step(json.dumps(problems))
    raw = env.unwrapped
    by_question = {ex.question.strip(): ex for ex in raw.last_examples}
    upper = by_question["def g(s):\n    return s.upper()[::-1]\ng('abc')"]
    assert (upper.answer, upper.verdict, upper.skill) == ("'CBA'", ACCEPTED, "indexing_slicing")
    assert by_question["def f(n):\n    return n * 3\nf(5)"].answer == "15"
    assert by_question["def f():\n    while True:\n        pass\nf()"].verdict == "unparseable"
    assert by_question["def f():\n    return f\nf()"].verdict == "unparseable"
    assert by_question["import os\nos.kill(os.getppid(), 9)\n1"].verdict == "unparseable"
    assert info["teacher/rejected"] == {"unparseable": 3}
    assert info["teacher/accepted"] == 3
    env.close()


def test_the_skill_list_level_runs_and_learns_something_to_measure():
    env = make("SkillList")
    obs, _ = env.reset(seed=0)
    assert obs["accuracy"].shape == (8,)
    _, _, _, _, info = env.step(env.action_space.sample())
    assert set(info["student/accuracy"]) == set(env.unwrapped.skill_names)
    assert info["teacher/accepted"] > 0
    env.close()
