"""Shared helpers for the student tests: the arithmetic task's generators as a data source."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from datagym.envs.arithmetic.task import ArithmeticTask


@pytest.fixture(scope="session")
def arithmetic_task() -> ArithmeticTask:
    return ArithmeticTask()


@pytest.fixture(scope="session")
def make_examples(arithmetic_task):
    """``make_examples(skill, n, seed)`` -> n generated examples of ``skill`` (none from the test set)."""

    def make(skill: str, n: int, seed: int = 0):
        rng = np.random.default_rng(seed)
        out = []
        while len(out) < n:
            example = arithmetic_task.generate(skill, rng)
            if not arithmetic_task.is_test_question(example.question):
                out.append(example)
        return out

    return make


@pytest.fixture
def fast_student_options(fast_env_kwargs) -> dict:
    """The tiny student the env tests use (from the root conftest), as keyword options."""
    return dict(fast_env_kwargs["student_options"])


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """Students set torch's process-wide thread count; put it back after each test."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
