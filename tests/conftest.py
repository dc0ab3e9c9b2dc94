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
