"""Shared helpers for the env tests: a factory of fast envs that closes what it made."""

from __future__ import annotations

import gymnasium as gym
import pytest

import datagym


@pytest.fixture
def make_env(fast_env_kwargs):
    """``make_env(env_id=DEFAULT_ENV_ID, **overrides)`` -> a fast env from ``gym.make``."""
    made: list[gym.Env] = []

    def make(env_id: str = datagym.DEFAULT_ENV_ID, **overrides):
        env = gym.make(env_id, **{**fast_env_kwargs, **overrides})
        made.append(env)
        return env

    yield make
    for env in made:
        env.close()
