"""The Code task: generators, the sandboxed oracle, answers' canonical form, skills."""

from __future__ import annotations

import ast

import numpy as np
import pytest

from datagym.envs.code.programs import SKILLS
from datagym.envs.code.task import CodeTask, canonical_value, printing_program
from datagym.errors import ConfigError, OracleError
from datagym.testing import check_task
from datagym.types import Example

from tests.conftest import assert_generated_examples_fit_the_default_student


@pytest.fixture(scope="module")
def task():
    made = CodeTask(heldout_size=20)
    yield made
    made.sandbox.close()


def test_check_task_passes(task):
    report = check_task(CodeTask(heldout_size=20))
    assert report


def test_skills_and_families(task):
    assert task.skill_names == (
        "string_methods", "indexing_slicing", "loops_accumulators", "conditionals",
        "dicts_sets", "sorting_keys", "comprehensions", "recursion",
    )
    assert {family for family, _, _ in SKILLS} == {"strings", "control_flow", "collections", "functions"}


def test_generators_are_deterministic(task):
    for skill in task.skill_names:
        a = [task.generate(skill, np.random.default_rng(5), d).question for d in (0.0, 0.5, 1.0)]
        b = [task.generate(skill, np.random.default_rng(5), d).question for d in (0.0, 0.5, 1.0)]
        assert a == b


def test_every_generated_answer_is_what_the_sandbox_says(task):
    # the in-process answers of generated programs agree with running them in the sandbox
    rng = np.random.default_rng(0)
    examples = [task.generate(skill, rng, d) for skill in task.skill_names for d in (0.0, 0.3, 0.7, 1.0)]
    verdicts = task.sandbox.run_many([printing_program(ex.question) for ex in examples])
    assert all(v.passed for v in verdicts), [v.reason for v in verdicts if not v.passed]
    assert [canonical_value(v.stdout) for v in verdicts] == [ex.answer for ex in examples]


def _input_size(program: str) -> float:
    """How big the call's argument is: a sequence's length, a number's size."""
    value = ast.literal_eval(ast.parse(program).body[-1].value.args[0])
    return len(value) if isinstance(value, (str, list)) else abs(value)


def test_difficulty_widens_the_inputs(task):
    rng = np.random.default_rng(1)
    for skill in task.skill_names:
        easy = np.mean([_input_size(task.generate(skill, rng, 0.0).question) for _ in range(300)])
        hard = np.mean([_input_size(task.generate(skill, rng, 1.0).question) for _ in range(300)])
        assert hard > easy, (skill, easy, hard)


def test_programs_fit_the_default_student(task):
    assert_generated_examples_fit_the_default_student(task, per_skill=300)


def test_the_oracle_labels_a_program_written_by_someone_else(task):
    program = "def g(words):\n    return ' '.join(w[::-1] for w in words)\ng(['ab', 'cd'])"
    assert task.label(program) == "'ba dc'"
    assert task.verify(Example(program, "'ba dc'", "comprehensions")) == "accepted"
    assert task.verify(Example(program, "'ab cd'", "comprehensions")) == "wrong_answer"


@pytest.mark.parametrize(
    ("program", "message"),
    [
        ("def f(:\n", "does not parse"),
        ("x = 1", "last line is an expression"),
        ("def f():\n    raise ValueError('no')\nf()", "failed \\(ValueError: no\\)"),
        ("def f():\n    while True: pass\nf()", "timeout"),
        ("def f():\n    return f\nf()", "Expected a Python literal"),
        ("open('/etc/shadow').read()", "failed \\(PermissionError"),
        ("x" * 3000, "at most 2000 characters"),
    ],
)
def test_programs_that_cannot_be_labelled_raise(task, program, message):
    with pytest.raises(OracleError, match=message):
        task.label(program)
    assert task.verify(Example(program, "1", "recursion")) == "unparseable"


@pytest.mark.parametrize(
    ("answer", "canonical"),
    [("[2,4]", "[2, 4]"), ('"ab"', "'ab'"), (" 7 ", "7"), ("{3, 1, 2}", "{1, 2, 3}"), ("(1,)", "(1,)"),
     ("{'b': 1, 'a': 2}", "{'b': 1, 'a': 2}"), ("True", "True")],
)
def test_answers_compare_in_canonical_form(task, answer, canonical):
    assert task.normalize_answer(answer) == canonical
    assert task.normalize_answer(canonical) == canonical


def test_non_answers_normalize_to_none(task):
    assert task.normalize_answer("[2, 4") is None
    assert task.normalize_answer("hello") is None


def test_classify_finds_the_generators_skill(task):
    rng = np.random.default_rng(3)
    for skill in task.skill_names:
        hits = np.mean([task.classify(task.generate(skill, rng).question) == skill for _ in range(100)])
        assert hits >= 0.85, (skill, hits)
    assert task.classify("not python (") is None


def test_heldout_sets_are_fixed_and_disjoint():
    a, b = CodeTask(heldout_size=10), CodeTask(heldout_size=10)
    for split in ("validation", "test"):
        assert [[e.question for e in a.heldout(split)[s]] for s in a.skill_names] == [
            [e.question for e in b.heldout(split)[s]] for s in b.skill_names
        ]
    for skill in a.skill_names:
        assert not {e.question for e in a.heldout("validation")[skill]} & {e.question for e in a.heldout("test")[skill]}


def test_bad_options_are_refused():
    with pytest.raises(ConfigError, match="Expected heldout_size to be a positive integer, got 0"):
        CodeTask(heldout_size=0)
    with pytest.raises(ConfigError, match="Expected sandbox_workers to be a positive integer, got 'two'"):
        CodeTask(sandbox_workers="two")
