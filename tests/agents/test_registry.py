"""Agents by name, and a user's own agent by ``package.module:Class``."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from datagym.agents import (
    AGENTS,
    DEFAULT_AGENT,
    DEFAULT_AGENTS,
    Agent,
    SkillListAgent,
    agent_class,
    default_agent,
    make_agent,
    offline_agents,
)
from datagym.errors import ConfigError, DatagymError, UnknownNameError


class HalfAgent(SkillListAgent):
    """A user's agent, defined outside datagym: half weight everywhere."""

    def __init__(self, action_space, observation_space, level: float = 0.5) -> None:
        super().__init__(action_space, observation_space)
        self.level = level

    def act(self, observation, info):
        return self.weights(np.full(self.n_skills, self.level))


class NotAnAgent:
    def __init__(self, action_space, observation_space) -> None:
        pass


def not_a_class(action_space, observation_space):
    return None


SKILL_LIST_AGENTS = sorted(n for n in offline_agents() if "skill_list" in agent_class(n).levels)


@pytest.mark.parametrize("name", SKILL_LIST_AGENTS)
def test_every_skill_list_agent_builds_for_the_default_env(skill_list_env, name):
    agent = make_agent(name, skill_list_env)
    assert isinstance(agent, Agent)
    assert agent.action_space is skill_list_env.action_space
    assert agent.observation_space is skill_list_env.observation_space
    assert "skill_list" in agent.levels
    assert agent_class(name) is type(agent)


def test_the_default_agent_is_registered():
    assert DEFAULT_AGENT in AGENTS
    for level, name in DEFAULT_AGENTS.items():
        assert level in agent_class(name).levels


def test_default_agent_follows_the_env_level(skill_list_env):
    assert default_agent(skill_list_env) == DEFAULT_AGENTS["skill_list"]
    assert default_agent("datagym/Arithmetic-SkillList-v1") == DEFAULT_AGENTS["skill_list"]


class OpenEndedOnly(Agent):
    levels = ("open_ended",)

    def act(self, observation, info):
        return "[]"


def test_an_agent_for_another_level_is_refused_with_the_fitting_ones(skill_list_env):
    with pytest.raises(ConfigError, match=r"written for \['open_ended'\] envs, got a 'skill_list' env; agents for it: \[.*'uniform'"):
        make_agent(f"{__name__}:OpenEndedOnly", skill_list_env)


class NeedsTask(SkillListAgent):
    def __init__(self, action_space, observation_space, task, scale: float = 1.0) -> None:
        super().__init__(action_space, observation_space)
        self.task, self.scale = task, scale

    def act(self, observation, info):
        return self.weights(np.ones(self.n_skills))


def test_an_agent_that_takes_task_gets_the_envs_task_and_task_is_not_a_user_option(skill_list_env):
    agent = make_agent(f"{__name__}:NeedsTask", skill_list_env, scale=2.0)
    assert agent.task is skill_list_env.unwrapped.task and agent.scale == 2.0
    with pytest.raises(ConfigError, match="expected some of \\['scale'\\]"):
        make_agent(f"{__name__}:NeedsTask", skill_list_env, task=None)


def test_options_reach_the_agent(skill_list_env):
    agent = make_agent("learning_progress", skill_list_env, window=5, epsilon=0.0)
    assert (agent.window, agent.epsilon) == (5, 0.0)


def test_a_users_agent_is_found_by_module_and_class(skill_list_env, obs):
    agent = make_agent(f"{__name__}:HalfAgent", skill_list_env, level=0.25)
    assert isinstance(agent, HalfAgent)
    action = agent.act(obs([0.0] * 15), {})
    assert np.all(action == 0.25)


def test_a_users_agent_in_their_own_package(tmp_path, monkeypatch, skill_list_env):
    package = tmp_path / "my_teachers"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "greedy.py").write_text(
        textwrap.dedent(
            """
            import numpy as np
            from datagym.agents import SkillListAgent

            class FirstSkillAgent(SkillListAgent):
                def act(self, observation, info):
                    w = np.zeros(self.n_skills)
                    w[0] = 1.0
                    return self.weights(w)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    agent = make_agent("my_teachers.greedy:FirstSkillAgent", skill_list_env)
    assert type(agent).__name__ == "FirstSkillAgent"
    assert skill_list_env.action_space.contains(agent.act(skill_list_env.observation_space.sample(), {}))


def test_an_unknown_name_lists_the_registered_agents(skill_list_env):
    expected = (
        r"Unknown agent 'smartest'; expected one of \['alp_gmm', 'error_replay', 'exp3s', 'explore_exploit', "
        r"'learning_progress', 'llm_open_ended', 'llm_skill_list', 'llm_skill_tree', 'no_teaching', 'open_ended_ppo_sim', 'open_ended_random', 'open_ended_triage', 'open_ended_uniform', "
        r"'ppo_sim', 'proximal_replay', 'proximal_skill', 'random', 'tree_random', 'tree_triage', 'tree_uniform', 'triage', "
        r"'uniform', 'weakest_skill'\] or 'package.module:Class'\."
    )
    with pytest.raises(UnknownNameError, match=expected):
        make_agent("smartest", skill_list_env)
    # It is a KeyError for callers that know nothing of datagym, and prints without repr quotes.
    with pytest.raises(KeyError) as caught:
        agent_class("smartest")
    assert str(caught.value).startswith("Unknown agent 'smartest'")


def test_a_missing_module_or_class_is_named():
    with pytest.raises(UnknownNameError, match=r"Cannot import module 'no_such_pkg\.teachers' for 'no_such_pkg\.teachers:X'"):
        agent_class("no_such_pkg.teachers:X")
    with pytest.raises(UnknownNameError, match=rf"Module '{__name__}' has no 'Missing' \(from '{__name__}:Missing'\)\."):
        agent_class(f"{__name__}:Missing")


@pytest.mark.parametrize("attr", ["NotAnAgent", "not_a_class"])
def test_something_that_is_not_an_agent_subclass_is_refused(skill_list_env, attr):
    path = f"{__name__}:{attr}"
    with pytest.raises(UnknownNameError, match=rf"'{path}' is .*, expected a subclass of datagym\.agents\.Agent\."):
        make_agent(path, skill_list_env)


def test_a_bad_option_value_raises_the_agents_own_error(skill_list_env):
    with pytest.raises(ValueError, match=r"Expected k in \[1, 15\], got 99\."):
        make_agent("weakest_skill", skill_list_env, k=99)


def test_an_unknown_option_names_the_agent_and_the_option(skill_list_env):
    # Passes before and after the fix below: the error names both, whatever its wording.
    with pytest.raises(DatagymError, match=r"(?=.*'uniform')(?=.*\['colour'\])"):
        make_agent("uniform", skill_list_env, colour="red")


def test_an_unknown_option_is_a_config_error_listing_the_accepted_ones(skill_list_env):
    # BUG: unknown options raise UnknownNameError (a KeyError, the error for unregistered
    # *names*) and do not say which options the agent takes. Students and envs raise
    # ConfigError("Unknown ... option(s) [...]; expected some of [...]") for the same mistake.
    expected = (
        r"Unknown option\(s\) \['windows'\] for agent 'learning_progress'; expected some of "
        r"\['absolute', 'draws', 'epsilon', 'optimism', 'signal', 'temperature', 'window'\]\."
    )
    with pytest.raises(ConfigError, match=expected):
        make_agent("learning_progress", skill_list_env, windows=3)


def test_a_type_error_inside_the_agent_is_not_blamed_on_unknown_options(skill_list_env):
    # BUG: make_agent turns *every* TypeError raised while building the agent into
    # "Agent ... does not take options ...", even for an option it does take: here k="2"
    # fails inside WeakestSkillAgent on `1 <= "2"`, and the user is told k is not an option.
    with pytest.raises(TypeError, match=r"'<=' not supported"):
        make_agent("weakest_skill", skill_list_env, k="2")
