"""Shared test settings: a tiny student and budget so an env step takes a fraction of a second."""

from __future__ import annotations

import pytest

import datagym  # noqa: F401  (registers the envs)

#: env keyword arguments that keep every env fast enough for the default suite
FAST_STUDENT = {"n_layer": 1, "n_embd": 32, "n_head": 2, "epochs": 1, "batch_size": 16}
FAST_ENV_KWARGS = {"total_budget": 96, "step_budget": 32, "student_options": FAST_STUDENT}


@pytest.fixture
def fast_env_kwargs() -> dict:
    """Fresh copy of the fast env options (tests may change it)."""
    return {"total_budget": 96, "step_budget": 32, "student_options": dict(FAST_STUDENT)}


def assert_generated_examples_fit_the_default_student(task, per_skill: int, answer_chars: int = 16) -> None:
    """Every generated example fits the default student's 128 positions (BOS, question, '=',
    answer of at most ``answer_chars``, EOS) and is written in the task's characters."""
    import numpy as np

    from datagym.students.char_tokenizer import CharTokenizer

    tokenizer = CharTokenizer(task.characters())
    rng = np.random.default_rng(2)
    for skill in task.skill_names:
        for _ in range(per_skill):
            ex = task.generate(skill, rng)
            assert len(ex.answer) <= answer_chars and len(ex.question) + len(ex.answer) + 3 <= 128, ex
            assert not tokenizer.unknown(ex.question + ex.answer), ex
