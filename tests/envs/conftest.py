"""Shared helpers for the env tests: a factory of fast envs that closes what it made."""

from __future__ import annotations

import gymnasium as gym
import pytest

import datagym


@pytest.fixture
def make_env(fast_env_kwargs, math_task_options):
    """``make_env(env_id=DEFAULT_ENV_ID, **overrides)`` -> a fast env from ``gym.make``."""
    made: list[gym.Env] = []

    def make(env_id: str = datagym.DEFAULT_ENV_ID, **overrides):
        kwargs = {**fast_env_kwargs, **overrides}
        if env_id.startswith(("datagym/Code-", "datagym/ReasoningGym-")):
            # programs and puzzles are five times arithmetic's length: fewer held-out questions
            # keep each evaluation of the tiny student as quick as an arithmetic one
            kwargs.setdefault("task_options", {"heldout_size": 10})
        files = math_task_options(env_id)
        if files is not None:  # the MATH and GSM8K envs read the user's files: the tests write small ones
            kwargs.setdefault("task_options", files)
        env = gym.make(env_id, **kwargs)
        made.append(env)
        return env

    yield make
    for env in made:
        env.close()
