"""End to end with the default student: data teaches, no data does not (slow: ~1 minute)."""

from __future__ import annotations

import gymnasium as gym
import pytest

import datagym
from datagym.agents import make_agent
from datagym.runner import run_episode


@pytest.mark.slow
def test_uniform_data_beats_no_teaching_with_the_default_student():
    scores = {}
    for name in ("no_teaching", "uniform"):
        env = gym.make(datagym.DEFAULT_ENV_ID, total_budget=1152)
        scores[name] = run_episode(env, make_agent(name, env), seed=0)["test_macro_accuracy"]
    assert scores["no_teaching"] == 0.0
    assert scores["uniform"] > 0.05
