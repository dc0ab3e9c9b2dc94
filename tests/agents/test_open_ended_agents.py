"""What every Open-Ended agent promises (actions the env reads in full, a state that saves, loads
through JSON and pickles, same seed same actions), and what the random and uniform floors do."""

from __future__ import annotations

import json
import pickle
from collections import Counter

import numpy as np
import pytest

from datagym.agents import offline_agents, DEFAULT_AGENTS, agent_class, default_agent, make_agent
from datagym.agents.open_ended_agent import OpenEndedAgent
from datagym.errors import ConfigError

ENV_ID = "datagym/Arithmetic-OpenEnded-v1"
OPEN_ENDED_AGENTS = sorted(n for n in offline_agents() if "open_ended" in agent_class(n).levels)
#: the agents that write problems (no_teaching, an agent of every level, writes none)
WRITERS = sorted(n for n in OPEN_ENDED_AGENTS if issubclass(agent_class(n), OpenEndedAgent))


@pytest.fixture(scope="module")
def observations(open_ended_env):
    """Real observations (an untrained student, then after two steps) and edge cases."""
    env = open_ended_env
    real = [env.reset(seed=0)[0]]
    env.action_space.seed(0)
    for _ in range(2):
        real.append(env.step(env.action_space.sample())[0])
    perfect = json.loads(real[0])
    perfect["errors"], perfect["errors_total"] = [], 0
    for entry in perfect["skills"].values():
        entry["errors"], entry["accuracy"] = 0, 1.0
    spent = json.loads(real[-1])
    spent["budget_left"], spent["max_problems"] = 0, 0
    few = json.loads(real[0])
    few["max_problems"] = 5
    no_sample = json.loads(real[1])
    no_sample["errors"] = []  # max_errors=0: counts only
    return real + [json.dumps(o) for o in (perfect, spent, few, no_sample)]


def test_the_level_has_its_agents_and_default():
    assert {"open_ended_random", "open_ended_uniform", "error_replay"} <= set(WRITERS)
    assert DEFAULT_AGENTS["open_ended"] == "open_ended_triage"
    assert default_agent(ENV_ID) == "open_ended_triage"
    for name in WRITERS:
        assert agent_class(name).levels == ("open_ended",)


@pytest.mark.parametrize("name", WRITERS)
def test_make_agent_hands_the_task_and_refuses_other_levels(open_ended_env, skill_list_env, name):
    agent = make_agent(name, open_ended_env)
    assert isinstance(agent, OpenEndedAgent)
    assert agent.task is open_ended_env.unwrapped.task
    with pytest.raises(ConfigError, match=f"Agent '{name}' is written for \\['open_ended'\\] envs, got a 'skill_list' env"):
        make_agent(name, skill_list_env)


@pytest.mark.parametrize("name", OPEN_ENDED_AGENTS)
def test_every_action_is_in_the_space_and_read_in_full(open_ended_env, observations, name):
    env = open_ended_env.unwrapped
    agent = make_agent(name, open_ended_env)
    agent.reset(seed=0)
    env.reset(seed=0)
    for observation in observations:
        action = agent.act(observation, {})
        assert open_ended_env.action_space.contains(action), f"{name} acted {action[:200]!r}"
        wanted = json.loads(observation)["max_problems"] if name in WRITERS else 0
        plan = env._plan_from_action(action)
        report = env._report
        assert report.malformed == Counter() and report.dropped == Counter()
        assert len(plan.examples) == wanted  # a writer fills the step's budget, no more
        for example in plan.examples:  # every problem is one the oracle answers, answered right
            assert example.answer == env.task.label(example.question)
            assert example.provenance["answer_from"] == "agent"


@pytest.mark.parametrize("name", OPEN_ENDED_AGENTS)
def test_state_dict_round_trip_through_json_continues_identically(open_ended_env, observations, name):
    agent = make_agent(name, open_ended_env)
    agent.reset(seed=11)
    for observation in observations[:3]:
        agent.act(observation, {})
    state = json.loads(json.dumps(agent.state_dict()))  # a checkpoint is JSON
    expected = [agent.act(observation, {}) for observation in observations[3:]]
    restored = make_agent(name, open_ended_env)
    restored.reset(seed=999)
    restored.load_state_dict(state)
    assert [restored.act(observation, {}) for observation in observations[3:]] == expected


@pytest.mark.parametrize("name", OPEN_ENDED_AGENTS)
def test_same_seed_same_actions_and_pickle_continues(open_ended_env, observations, name):
    a, b = make_agent(name, open_ended_env), make_agent(name, open_ended_env)
    a.reset(seed=3)
    b.reset(seed=3)
    for observation in observations[:3]:
        assert a.act(observation, {}) == b.act(observation, {})
    clone = pickle.loads(pickle.dumps(a))  # Ray ships agents to workers
    for observation in observations[3:]:
        assert a.act(observation, {}) == clone.act(observation, {})


@pytest.mark.parametrize("name", WRITERS)
def test_another_seed_writes_other_problems(open_ended_env, observations, name):
    other = make_agent(name, open_ended_env)
    other.reset(seed=4)
    assert other.act(observations[0], {}) != make_agent(name, open_ended_env).act(observations[0], {})


def _skill_counts(agent, observation) -> np.ndarray:
    problems = json.loads(agent.act(observation, {}))
    counts = Counter(agent.task.classify(p["question"]) for p in problems)
    return np.array([counts.get(s, 0) for s in agent.skill_names])


def test_uniform_gives_every_skill_the_same_share(open_ended_env, observations):
    agent = make_agent("open_ended_uniform", open_ended_env)
    agent.reset(seed=0)
    for observation in (observations[0], observations[-2]):  # 32 problems, then 5 problems
        counts = _skill_counts(agent, observation)
        n = json.loads(observation)["max_problems"]
        assert counts.sum() == n and counts.max() - counts.min() <= 1


def test_uniform_spreads_the_remainder_over_the_skills_across_steps(open_ended_env, observations):
    agent = make_agent("open_ended_uniform", open_ended_env)
    agent.reset(seed=0)
    totals = sum(_skill_counts(agent, observations[-2]) for _ in range(30))  # 5 problems, 15 skills
    assert totals.sum() == 150 and totals.min() >= 3  # the remainder is not always the same skills


def test_random_draws_a_fresh_mixture_each_step(open_ended_env, observations):
    agent = make_agent("open_ended_random", open_ended_env)
    agent.reset(seed=0)
    first, second = _skill_counts(agent, observations[0]), _skill_counts(agent, observations[0])
    assert first.sum() == second.sum() == 32
    assert not np.array_equal(first, second)
    assert first.max() - first.min() > 1  # not uniform


def test_agent_refuses_an_observation_that_is_not_text(open_ended_env):
    agent = make_agent("open_ended_random", open_ended_env)
    with pytest.raises(TypeError, match="Expected an Open-Ended observation \\(JSON text\\), got ndarray"):
        agent.act(np.zeros(3), {})


def test_agent_needs_a_task(open_ended_env):
    with pytest.raises(TypeError, match="Expected task to be a datagym Task \\(the env's task\\), got str"):
        agent_class("open_ended_uniform")(open_ended_env.action_space, open_ended_env.observation_space, task="arithmetic")
