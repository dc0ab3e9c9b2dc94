"""The HumanEval envs, taught to a scripted student (canonical solutions for the skills it was
trained on, ``return None`` for the rest): scores graded in the sandbox, rewards, the
Open-Ended level's verification of written problems, and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import datagym  # noqa: F401 - registers the envs
from datagym.envs.humaneval.task import load_problems

HERE = Path(__file__).parent
AGENT_PROMPT = '''def double(x: int) -> int:
    """Twice x.
    >>> double(2)
    4
    """
'''
STUDENT = "reference_student:ReferenceStudent"
PROBLEMS = load_problems()


@pytest.fixture
def scripted(monkeypatch):
    """``scripted(level, **options)``: a HumanEval env with the scripted student."""
    monkeypatch.syspath_prepend(str(HERE))
    made = []

    def make(level: str = "SkillList", **options):
        # student_options replace the registered ones, which are the default student's
        env = gym.make(f"datagym/HumanEval-{level}-v0", student=STUDENT, student_options={},
                       **{"total_budget": 96, "step_budget": 32, **options})
        made.append(env)
        return env

    yield make
    for env in made:
        env.close()


def test_only_the_skill_taught_is_solved_and_the_reward_says_so(scripted):
    env = scripted()
    skills = env.unwrapped.skill_names
    obs, info = env.reset(seed=0)
    assert info["student/macro_accuracy"] == 0.0
    action = np.zeros(len(skills), dtype=np.float32)
    action[skills.index("lists_to_lists")] = 1.0
    obs, reward, terminated, truncated, info = env.step(action)
    accuracy = info["student/accuracy"]
    assert accuracy["lists_to_lists"] == 1.0 and all(v == 0.0 for k, v in accuracy.items() if k != "lists_to_lists")
    assert reward == pytest.approx(1.0 / len(skills))
    assert info["teacher/accepted"] == 32 and info["teacher/rejected"] == {}
    for _ in range(2):
        obs, reward, terminated, truncated, info = env.step(np.ones(len(skills), dtype=np.float32))
    assert terminated
    assert info["student/test_macro_accuracy"] == 1.0  # every skill taught by now: every test problem passes


def test_the_checker_passes_with_the_scripted_student(scripted):
    for level in ("SkillList", "OpenEnded"):
        env = scripted(level, timings=False)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            check_env(env.unwrapped)
        assert [str(w.message) for w in caught if "render fps" not in str(w.message)] == []


def test_written_problems_are_verified_and_humaneval_test_prompts_are_refused(scripted):
    env = scripted("OpenEnded")
    env.reset(seed=1)
    task = env.unwrapped.task
    train_id = task.splits["train"]["strings_to_strings"][0]
    test_id = task.splits["test"]["strings_to_strings"][0]
    own = '''def triple(x: int) -> int:
    """Three times x.
    >>> triple(3)
    9
    """
'''
    problems = [
        {"question": own, "answer": "    return 3 * x\n"},  # verified by its example: accepted
        {"question": own, "answer": "    return x + 3\n"},  # fails its example
        {"question": 'def f(x):\n    """No example here."""\n', "answer": "    return x\n"},
        {"question": PROBLEMS[train_id]["prompt"]},  # HumanEval's oracle answers its own prompts
        {"question": PROBLEMS[test_id]["prompt"], "answer": PROBLEMS[test_id]["canonical_solution"]},
    ]
    obs, reward, terminated, truncated, info = env.step(json.dumps(problems))
    assert info["teacher/accepted"] == 2
    assert info["teacher/rejected"] == {"wrong_answer": 1, "unparseable": 1, "test_contamination": 1}
    assert info["teacher/labelled"] == 1
    # a problem the oracle cannot answer is filed under no skill, whether its examples pass or not
    assert info["teacher/requested"]["unclassified"] == 3
    assert info["student/accuracy"]["strings_to_strings"] == 1.0  # the scripted student learnt the skill


def test_the_cli_runs_sweeps_and_ranks_the_humaneval_envs(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    options = json.dumps({"student": STUDENT, "student_options": {}})
    run = subprocess.run(
        [sys.executable, "-m", "datagym", "run", "--env", "datagym/HumanEval-SkillList-v0", "--agent", "uniform",
         "--total-budget", "64", "--step-budget", "32", "--env-options", options, "--import", "reference_student",
         "--out", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["test_macro_accuracy"] == 1.0
    sweep = subprocess.run(
        [sys.executable, "-m", "datagym", "sweep", "--env", "datagym/HumanEval-SkillList-v0",
         "--env", "datagym/HumanEval-OpenEnded-v0", "--seeds", "0-1", "--total-budget", "32", "--step-budget", "32",
         "--env-options", options, "--import", "reference_student", "--workers", "2", "--out", str(tmp_path / "sweep")],
        capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path,
    )
    assert sweep.returncode == 0, sweep.stderr
    board = subprocess.run(
        [sys.executable, "-m", "datagym", "leaderboard", str(tmp_path / "sweep"), "--import", "reference_student"],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )
    assert board.returncode == 0, board.stderr
    text = (tmp_path / "sweep" / "leaderboard.md").read_text()
    assert "HumanEval-SkillList-v0" in text and "HumanEval-OpenEnded-v0" in text


def test_the_open_ended_env_reads_long_prompts_and_keeps_a_completions_indentation(scripted):
    from datagym.envs.open_ended_env import MAX_QUESTION_CHARS, _read_problem

    env = scripted("OpenEnded")
    raw = env.unwrapped
    assert (raw._max_question_chars, raw._max_answer_chars) == (4096, 4096)  # the task's bounds, not 1024 and 256
    long_prompt = "#" * (MAX_QUESTION_CHARS + 100) + "\n" + AGENT_PROMPT
    assert _read_problem({"question": long_prompt, "answer": "\n\n    return 2 * x  \n"}, 4096, 4096) == (
        long_prompt.strip(), "    return 2 * x")
    assert _read_problem({"question": long_prompt}) == "question_too_long"  # the default bound
