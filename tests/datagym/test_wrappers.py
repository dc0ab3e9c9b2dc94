"""The RL wrappers and Stable-Baselines3: every env with numeric spaces passes SB3's own
check_env (the Dict-action levels through FlattenDictAction), and PPO trains on the simulator."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import PPO
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import datagym  # noqa: F401
from datagym.errors import ConfigError
from datagym.wrappers import BudgetFractionObservation, FlattenDictAction

SL, ST, OE = ("datagym/Arithmetic-SkillList-v1", "datagym/Arithmetic-SkillTree-v1", "datagym/Arithmetic-OpenEnded-v1")


def sim(env_id: str, **kwargs) -> gym.Env:
    return gym.make(env_id, student="simulated", timings=False, **kwargs)


def test_flatten_dict_action_cuts_a_flat_box_back_into_the_skill_tree_action():
    env = FlattenDictAction(sim(ST))
    inner = env.unwrapped.action_space
    assert env.action_space.shape == (inner["allocation"].shape[0] + inner["expand"].n,)
    flat = np.zeros(env.action_space.shape, np.float32)
    flat[0] = 1.0  # allocate to the root
    flat[66] = 0.9  # and expand it
    action = env.action(flat)
    assert inner.contains(action)
    assert action["expand"][0] == 1 and action["expand"][1:].sum() == 0
    env.reset(seed=0)
    env.step(flat)
    assert env.unwrapped.expanded[0]
    with pytest.raises(ConfigError, match=r"Expected a flat action of shape \(132,\), got shape \(3,\)"):
        env.action(np.zeros(3))


def test_flatten_refuses_an_action_space_that_is_not_a_dict():
    with pytest.raises(ConfigError, match="Expected an env with a Dict action space to flatten"):
        FlattenDictAction(sim(SL))


def test_budget_fractions_scale_the_counts_and_nothing_else():
    env = BudgetFractionObservation(sim(SL))
    obs, _ = env.reset(seed=0)
    assert obs["budget_left"][0] == pytest.approx(1.0)
    obs, *_ = env.step(np.ones(15, np.float32))
    assert obs["budget_left"][0] == pytest.approx(1 - 768 / 7680)
    assert obs["examples_seen"].sum() == pytest.approx(env.unwrapped.examples_seen.sum() / 7680)
    np.testing.assert_array_equal(obs["accuracy"], env.unwrapped.accuracy.astype(np.float32))
    assert env.observation_space.contains(obs)


@pytest.mark.parametrize("make", [
    lambda: sim(SL),
    lambda: BudgetFractionObservation(sim(SL)),
    lambda: FlattenDictAction(sim(SL, difficulty_control=True)),
    lambda: FlattenDictAction(sim(ST)),
], ids=["skill_list", "skill_list_fractions", "skill_list_difficulty_control_flat", "skill_tree_flat"])
def test_sb3_check_env_passes(make):
    with pytest.warns(UserWarning, match="symmetric and normalized Box action space"):
        sb3_check_env(make(), warn=True)


def test_sb3_check_env_refuses_the_open_ended_text_spaces():
    # SB3 has no policy for Text spaces: its checker stops at the first (text) observation
    with pytest.raises(AssertionError, match="observation returned by `reset\(\)` method must be a numpy array"):
        sb3_check_env(sim(OE), warn=True)


def test_a_smoke_ppo_run_on_the_simulator_trains_saves_and_acts(tmp_path):
    from datagym.agents.registry import make_agent

    env = BudgetFractionObservation(sim(SL))
    model = PPO("MultiInputPolicy", env, n_steps=64, batch_size=32, n_epochs=2, seed=0, device="cpu",
                policy_kwargs={"net_arch": [16]})
    model.learn(total_timesteps=256)
    path = tmp_path / "policy.zip"
    model.save(path)
    real = gym.make(SL, timings=False, total_budget=64, step_budget=32,
                    student_options={"epochs": 1, "n_embd": 16, "n_layer": 1, "n_head": 2})
    agent = make_agent("ppo_sim", real, policy=str(path))
    obs, info = real.reset(seed=0)
    agent.reset(0)
    action = agent.act(obs, info)
    assert real.action_space.contains(action)
    real.step(action)


def _smoke_ppo_parameters(seed: int) -> list:
    model = PPO("MultiInputPolicy", BudgetFractionObservation(sim(SL)), n_steps=64, batch_size=32, n_epochs=2,
                seed=seed, device="cpu", policy_kwargs={"net_arch": [16]})
    model.learn(total_timesteps=128)
    return [p.detach().clone() for p in model.policy.parameters()]


def test_ppo_on_the_simulator_is_reproducible_from_its_seed():
    import torch

    first, again, other = _smoke_ppo_parameters(0), _smoke_ppo_parameters(0), _smoke_ppo_parameters(1)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))
