"""What every registered agent promises: actions inside the env's action space, and a state that
saves, loads (through JSON) and pickles so that an episode continues exactly."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from datagym.agents import offline_agents, Agent, agent_class, make_agent

#: agents of the other levels keep the same promises in their own test files
SKILL_LIST_AGENTS = sorted(n for n in offline_agents() if "skill_list" in agent_class(n).levels)


def _observations(env, n=8):
    """A fixed mix of edge-case and sampled observations of ``env``."""
    k = env.action_space.shape[0]
    space = env.observation_space
    space.seed(123)
    edge = [
        {"accuracy": np.zeros(k, np.float32), "examples_seen": np.zeros(k, np.float32),
         "budget_left": np.array([96.0], np.float32), "loss": np.full(k, 3.0, np.float32)},
        {"accuracy": np.ones(k, np.float32), "examples_seen": np.full(k, 96.0, np.float32),
         "budget_left": np.array([0.0], np.float32), "loss": np.zeros(k, np.float32)},
    ]
    return edge + [space.sample() for _ in range(n - len(edge))]


@pytest.mark.parametrize("name", SKILL_LIST_AGENTS)
def test_every_action_is_inside_the_action_space(skill_list_env, name):
    agent = make_agent(name, skill_list_env)
    agent.reset(seed=0)
    for observation in _observations(skill_list_env) * 2:
        action = agent.act(observation, {})
        assert skill_list_env.action_space.contains(action), f"{name} acted {action!r}"


@pytest.mark.parametrize("name", SKILL_LIST_AGENTS)
def test_the_env_accepts_every_action(skill_list_env, name):
    # The env's own validation (shape, finite, non-negative) is the looser check; it must pass too.
    env = skill_list_env.unwrapped
    agent = make_agent(name, skill_list_env)
    agent.reset(seed=0)
    for observation in _observations(skill_list_env):
        env._plan_from_action(agent.act(observation, {}))


@pytest.mark.parametrize("name", SKILL_LIST_AGENTS)
def test_state_dict_round_trip_through_json_continues_identically(skill_list_env, name):
    observations = _observations(skill_list_env, n=10)
    agent = make_agent(name, skill_list_env)
    agent.reset(seed=11)
    for observation in observations[:5]:
        agent.act(observation, {})
    state = json.loads(json.dumps(agent.state_dict()))  # a checkpoint is JSON
    expected = [agent.act(observation, {}) for observation in observations[5:]]

    restored = make_agent(name, skill_list_env)
    restored.reset(seed=999)  # whatever it held before is overwritten by the state
    restored.load_state_dict(state)
    got = [restored.act(observation, {}) for observation in observations[5:]]
    for a, b in zip(expected, got):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", SKILL_LIST_AGENTS)
def test_same_seed_same_actions_and_pickle_continues(skill_list_env, name):
    observations = _observations(skill_list_env)
    a, b = make_agent(name, skill_list_env), make_agent(name, skill_list_env)
    a.reset(seed=3)
    b.reset(seed=3)
    for observation in observations[:4]:
        np.testing.assert_array_equal(a.act(observation, {}), b.act(observation, {}))
    clone = pickle.loads(pickle.dumps(a))  # Ray ships agents to workers
    for observation in observations[4:]:
        np.testing.assert_array_equal(a.act(observation, {}), clone.act(observation, {}))


def test_agent_is_abstract(skill_list_env):
    with pytest.raises(TypeError, match="abstract"):
        Agent(skill_list_env.action_space, skill_list_env.observation_space)  # type: ignore[abstract]
