"""Skill-List teachers at the Open-Ended level (``open_ended_ppo_sim``): the allocation the
Skill-List agent makes on the same student state, written as generator problems."""

from __future__ import annotations

import json
from collections import Counter

import gymnasium as gym
import numpy as np
import pytest

from datagym.agents import make_agent
from datagym.agents.open_ended_allocation import OpenEndedAllocationAgent
from datagym.agents.simple_teachers import NoTeachingAgent
from datagym.envs.skill_list_env import allocate

pytest.importorskip("stable_baselines3")

BUDGETS = dict(student="simulated", total_budget=2304, step_budget=768)


def recording(agent):
    """``agent`` with its ``generated`` wrapped to record the skill of every problem it writes."""
    skills = []
    generate = agent.generated

    def generated(skill):
        skills.append(skill)
        return generate(skill)

    agent.generated = generated
    return skills


@pytest.mark.parametrize("seed", [0, 5])
def test_same_state_same_allocation_as_ppo_sim_on_the_skill_list_env(seed):
    sl = gym.make("datagym/Arithmetic-SkillList-v1", **BUDGETS)
    oe = gym.make("datagym/Arithmetic-OpenEnded-v1", **BUDGETS)
    sl_agent, oe_agent = make_agent("ppo_sim", sl), make_agent("open_ended_ppo_sim", oe)
    sl_obs, _ = sl.reset(seed=seed)
    oe_obs, _ = oe.reset(seed=seed)
    sl_agent.reset(seed)
    oe_agent.reset(seed)
    rebuilt = oe_agent.skill_list_observation(json.loads(oe_obs))
    assert set(rebuilt) == set(sl_obs)
    for key in sl_obs:
        np.testing.assert_allclose(rebuilt[key], sl_obs[key], atol=1e-4)
    skills = recording(oe_agent)
    written = json.loads(oe_agent.act(oe_obs, {}))
    expected = allocate(np.asarray(sl_agent.act(sl_obs, {}), dtype=np.float64), 768)
    counts = Counter(skills)
    assert [counts.get(n, 0) for n in sl.unwrapped.skill_names] == expected.tolist()
    assert len(written) == 768
    # the env reads every problem; the only ones it turns away equal a held-out question
    _, _, _, _, info = oe.step(json.dumps(written))
    assert info["teacher/accepted"] + sum(info["teacher/rejected"].values()) == 768
    assert set(info["teacher/rejected"]) <= {"test_contamination"}


def test_the_allocation_follows_the_budget_the_observation_states():
    oe = gym.make("datagym/Arithmetic-OpenEnded-v1", **{**BUDGETS, "total_budget": 1536})
    agent = make_agent("open_ended_ppo_sim", oe)
    obs, _ = oe.reset(seed=0)
    agent.reset(0)
    agent.act(obs, {})
    assert agent.inner.total_budget == 1536.0


def test_an_all_zero_allocation_writes_no_problems():
    class Silent(OpenEndedAllocationAgent):
        def make_inner(self, action_space, observation_space):
            return NoTeachingAgent(action_space, observation_space)

    env = gym.make("datagym/Arithmetic-OpenEnded-v1", student="simulated")
    obs, _ = env.reset(seed=0)
    agent = Silent(env.action_space, env.observation_space, env.unwrapped.task)
    agent.reset(0)
    assert json.loads(agent.act(obs, {})) == []


def test_an_observation_without_every_skill_is_refused():
    env = gym.make("datagym/Arithmetic-OpenEnded-v1", student="simulated")
    obs, _ = env.reset(seed=0)
    agent = make_agent("open_ended_ppo_sim", env)
    state = json.loads(obs)
    del state["skills"]["add_carry"]
    with pytest.raises(ValueError, match=r"missing \['add_carry'\]"):
        agent.act(json.dumps(state), {})
