"""Every Skill-List agent under the env's ``difficulty_control=True``: the shared
``SkillListAgent.weights`` builds the Dict action (default difficulty 0.5), ``n_skills`` still
works, the random teacher draws difficulties too, the uniform teacher spreads them evenly, and
every registered agent keeps the agent contract (actions in the space and accepted by the env,
same seed same actions, state through JSON and pickle)."""

from __future__ import annotations

import json
import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

import datagym
from datagym.agents import offline_agents, SkillListAgent, agent_class, make_agent
from datagym.agents.simple_teachers import RandomAgent, UniformAgent, WeakestSkillAgent
from datagym.envs.skill_list_env import DIFFICULTY_BANDS

SKILL_LIST_AGENTS = sorted(n for n in offline_agents() if "skill_list" in agent_class(n).levels)
#: agents that ignore difficulty and so ask for SkillListAgent.default_difficulty (no_teaching
#: is not a SkillListAgent: it works at every level and asks for the empty plan, zeros throughout)
DIFFICULTY_BLIND = ["exp3s", "learning_progress", "ppo_sim", "proximal_skill", "weakest_skill"]


def control_spaces(n: int, total: float = 96.0) -> tuple[spaces.Dict, spaces.Dict]:
    """The action and observation spaces of an n-skill Skill-List env with difficulty control."""
    box = spaces.Box(0.0, 1.0, shape=(n,), dtype=np.float32)
    action = spaces.Dict({"weights": box, "difficulty": box})
    observation = spaces.Dict(
        {
            "accuracy": box,
            "examples_seen": spaces.Box(0.0, total, shape=(n,), dtype=np.float32),
            "budget_left": spaces.Box(0.0, total, shape=(1,), dtype=np.float32),
            "loss": spaces.Box(0.0, 100.0, shape=(n,), dtype=np.float32),
            "accuracy_by_difficulty": spaces.Box(0.0, 1.0, shape=(n, DIFFICULTY_BANDS), dtype=np.float32),
            "loss_by_difficulty": spaces.Box(0.0, 100.0, shape=(n, DIFFICULTY_BANDS), dtype=np.float32),
        }
    )
    return action, observation


@pytest.fixture(scope="module")
def control_env():
    """The default env with difficulty control and the fast test settings (agents need its spaces)."""
    env = gym.make(
        datagym.DEFAULT_ENV_ID, total_budget=96, step_budget=32, difficulty_control=True,
        student_options={"n_layer": 1, "n_embd": 32, "n_head": 2, "epochs": 1, "batch_size": 16},
    )
    yield env
    env.close()


def _observations(env, n=8):
    k = len(env.unwrapped.skill_names)
    space = env.observation_space
    space.seed(123)
    zeros, ones = np.zeros(k, np.float32), np.ones(k, np.float32)
    edge = [
        {"accuracy": zeros, "examples_seen": zeros, "budget_left": np.array([96.0], np.float32),
         "loss": np.full(k, 3.0, np.float32), "accuracy_by_difficulty": np.zeros((k, DIFFICULTY_BANDS), np.float32),
         "loss_by_difficulty": np.full((k, DIFFICULTY_BANDS), 3.0, np.float32)},
        {"accuracy": ones, "examples_seen": np.full(k, 96.0, np.float32), "budget_left": np.array([0.0], np.float32),
         "loss": zeros, "accuracy_by_difficulty": np.ones((k, DIFFICULTY_BANDS), np.float32),
         "loss_by_difficulty": np.zeros((k, DIFFICULTY_BANDS), np.float32)},
    ]
    return edge + [space.sample() for _ in range(n - len(edge))]


def _same(a, b) -> None:
    assert set(a) == set(b)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


# -- the shared mechanism -------------------------------------------------------------------
def test_weights_builds_the_dict_action_with_the_default_difficulty():
    agent = WeakestSkillAgent(*control_spaces(6), k=2)
    assert agent.difficulty_control and agent.n_skills == 6
    action = agent.weights(np.arange(6))
    assert set(action) == {"weights", "difficulty"}
    assert action["weights"].dtype == action["difficulty"].dtype == np.float32
    np.testing.assert_array_equal(action["weights"], np.arange(6))
    assert SkillListAgent.default_difficulty == 0.5
    np.testing.assert_array_equal(action["difficulty"], np.full(6, 0.5, np.float32))
    np.testing.assert_array_equal(agent.weights(np.ones(6), 0.25)["difficulty"], np.full(6, 0.25, np.float32))
    per_skill = np.linspace(0, 1, 6)
    np.testing.assert_array_equal(agent.weights(np.ones(6), per_skill)["difficulty"], per_skill.astype(np.float32))


def test_without_difficulty_control_weights_is_the_plain_array_and_ignores_a_difficulty(spaces_for):
    agent = WeakestSkillAgent(*spaces_for(6), k=2)
    assert not agent.difficulty_control and agent.n_skills == 6
    action = agent.weights(np.ones(6), difficulty=0.9)
    assert isinstance(action, np.ndarray) and action.dtype == np.float32 and action.shape == (6,)


def test_a_subclass_can_change_the_default_difficulty():
    class EasyFirst(UniformAgent):
        default_difficulty = 0.0

        def act(self, observation, info):
            return self.weights(np.ones(self.n_skills))

    agent = EasyFirst(*control_spaces(4))
    np.testing.assert_array_equal(agent.act({}, {})["difficulty"], np.zeros(4, np.float32))


@pytest.mark.parametrize("name", DIFFICULTY_BLIND)
def test_difficulty_blind_agents_ask_for_the_default_difficulty(control_env, name):
    agent = make_agent(name, control_env)
    agent.reset(seed=0)
    for observation in _observations(control_env):
        action = agent.act(observation, {})
        np.testing.assert_array_equal(action["difficulty"], np.full(agent.n_skills, 0.5, np.float32))


def test_difficulty_blind_agents_choose_the_same_weights_with_and_without_control(skill_list_env, control_env):
    plain_obs = [{k: v for k, v in o.items() if "by_difficulty" not in k} for o in _observations(control_env)]
    for name in DIFFICULTY_BLIND + ["random", "no_teaching"]:
        plain, control = make_agent(name, skill_list_env), make_agent(name, control_env)
        plain.reset(seed=5)
        control.reset(seed=5)
        # random draws its difficulties after its weights, so its first step's weights agree too
        observations = plain_obs[:1] if name == "random" else plain_obs
        for observation in observations:
            np.testing.assert_array_equal(plain.act(observation, {}), control.act(observation, {})["weights"])


def test_random_draws_a_fresh_difficulty_per_skill_each_step(obs):
    agent = RandomAgent(*control_spaces(6))
    agent.reset(seed=0)
    actions = [agent.act(obs([0.5] * 6), {}) for _ in range(20)]
    difficulties = np.stack([a["difficulty"] for a in actions])
    assert ((difficulties >= 0) & (difficulties < 1)).all()
    assert len(np.unique(difficulties)) == difficulties.size  # every one fresh
    assert 0.35 < difficulties.mean() < 0.65
    assert difficulties.min() < 0.1 and difficulties.max() > 0.9


def test_uniform_spreads_each_skills_difficulty_evenly_over_the_episode(obs):
    agent = UniformAgent(*control_spaces(5))
    agent.reset(seed=0)
    actions = [agent.act(obs([0.5] * 5), {}) for _ in range(10)]
    for a in actions:
        np.testing.assert_array_equal(a["weights"], np.ones(5, np.float32))
    difficulties = np.stack([a["difficulty"] for a in actions])  # steps x skills
    assert difficulties[0, 0] == pytest.approx(0.5)
    for skill in range(5):
        column = np.sort(difficulties[:, skill])
        gaps = np.diff(np.concatenate([[0.0], column, [1.0]]))
        assert gaps.max() < 0.2, (skill, column)  # ten steps leave no gap wider than 0.2
    # Within one step the skills are spread as well.
    assert difficulties[0].max() - difficulties[0].min() > 0.5
    # And a new episode starts the same sequence again.
    agent.reset(seed=1)
    np.testing.assert_array_equal(agent.act(obs([0.5] * 5), {})["difficulty"], actions[0]["difficulty"])


def test_uniform_state_round_trip_keeps_its_place_in_the_sequence(obs):
    agent = UniformAgent(*control_spaces(5))
    agent.reset(seed=0)
    for _ in range(3):
        agent.act(obs([0.5] * 5), {})
    clone = UniformAgent(*control_spaces(5))
    clone.load_state_dict(json.loads(json.dumps(agent.state_dict())))
    _same(agent.act(obs([0.5] * 5), {}), clone.act(obs([0.5] * 5), {}))


# -- the agent contract, every registered skill-list agent ---------------------------------
@pytest.mark.parametrize("name", SKILL_LIST_AGENTS)
def test_every_action_is_in_the_space_and_accepted_by_the_env(control_env, name):
    env = control_env.unwrapped
    agent = make_agent(name, control_env)
    if isinstance(agent, SkillListAgent):
        assert agent.n_skills == len(env.skill_names)
    agent.reset(seed=0)
    for observation in _observations(control_env) * 2:
        action = agent.act(observation, {})
        assert control_env.action_space.contains(action), f"{name} acted {action!r}"
        env._plan_from_action(action)


@pytest.mark.parametrize("name", SKILL_LIST_AGENTS)
def test_state_dict_round_trip_through_json_continues_identically(control_env, name):
    observations = _observations(control_env, n=10)
    agent = make_agent(name, control_env)
    agent.reset(seed=11)
    for observation in observations[:5]:
        agent.act(observation, {})
    state = json.loads(json.dumps(agent.state_dict()))
    expected = [agent.act(observation, {}) for observation in observations[5:]]
    restored = make_agent(name, control_env)
    restored.reset(seed=999)
    restored.load_state_dict(state)
    for want, observation in zip(expected, observations[5:]):
        _same(want, restored.act(observation, {}))


@pytest.mark.parametrize("name", SKILL_LIST_AGENTS)
def test_same_seed_same_actions_and_pickle_continues(control_env, name):
    observations = _observations(control_env)
    a, b = make_agent(name, control_env), make_agent(name, control_env)
    a.reset(seed=3)
    b.reset(seed=3)
    for observation in observations[:4]:
        _same(a.act(observation, {}), b.act(observation, {}))
    clone = pickle.loads(pickle.dumps(a))
    for observation in observations[4:]:
        _same(a.act(observation, {}), clone.act(observation, {}))
