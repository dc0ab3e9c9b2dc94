"""Shared helpers for the agent tests: Skill-List spaces built directly, and scripted observations."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

import datagym  # noqa: F401  (registers the envs)


def skill_list_spaces(n_skills: int, total_budget: float = 96.0) -> tuple[spaces.Box, spaces.Dict]:
    """The action and observation spaces SkillListEnv builds for ``n_skills`` skills."""
    action = spaces.Box(0.0, 1.0, shape=(n_skills,), dtype=np.float32)
    observation = spaces.Dict(
        {
            "accuracy": spaces.Box(0.0, 1.0, shape=(n_skills,), dtype=np.float32),
            "examples_seen": spaces.Box(0.0, total_budget, shape=(n_skills,), dtype=np.float32),
            "budget_left": spaces.Box(0.0, total_budget, shape=(1,), dtype=np.float32),
            "loss": spaces.Box(0.0, 100.0, shape=(n_skills,), dtype=np.float32),
        }
    )
    return action, observation


def observation(accuracy, examples_seen=None, budget_left: float = 96.0, loss=None) -> dict[str, np.ndarray]:
    """A hand-made Skill-List observation (loss defaults to 1 - accuracy, a graded stand-in)."""
    accuracy = np.asarray(accuracy, dtype=np.float32)
    seen = np.zeros_like(accuracy) if examples_seen is None else np.asarray(examples_seen, dtype=np.float32)
    loss = 1.0 - accuracy if loss is None else np.asarray(loss, dtype=np.float32)
    return {
        "accuracy": accuracy,
        "examples_seen": seen,
        "budget_left": np.array([budget_left], dtype=np.float32),
        "loss": loss.astype(np.float32),
    }


@pytest.fixture(scope="session")
def spaces_for():
    """``spaces_for(n)`` -> (action_space, observation_space) of an n-skill Skill-List env."""
    return skill_list_spaces


@pytest.fixture(scope="session")
def obs():
    """``obs(accuracy, examples_seen=None, budget_left=96)`` -> a Skill-List observation."""
    return observation


#: a tiny student, so that the tests that step an env stay fast
FAST_STUDENT = {"n_layer": 1, "n_embd": 32, "n_head": 2, "epochs": 1, "batch_size": 16}


@pytest.fixture(scope="module")
def skill_list_env():
    """The default env with the fast test settings (never stepped: agents only need its spaces)."""
    env = gym.make(
        datagym.DEFAULT_ENV_ID,
        total_budget=96,
        step_budget=32,
        student_options=FAST_STUDENT,
    )
    yield env
    env.close()


@pytest.fixture(scope="module")
def open_ended_env():
    """The Open-Ended env with the fast test settings and a small budget (3 steps of 32)."""
    env = gym.make("datagym/Arithmetic-OpenEnded-v1", total_budget=96, step_budget=32,
                   student_options=FAST_STUDENT, timings=False)
    yield env
    env.close()
