"""The Skill-Tree teachers: actions the env accepts, state that round-trips, and what each does."""

from __future__ import annotations

import json
import pickle
import re

import gymnasium as gym
import numpy as np
import pytest

from datagym.agents import offline_agents, agent_class, default_agent, make_agent
from datagym.errors import ConfigError

ENV_ID = "datagym/Arithmetic-SkillTree-v1"
TREE_AGENTS = sorted(n for n in offline_agents() if "skill_tree" in agent_class(n).levels)
TREE_ONLY_AGENTS = [n for n in TREE_AGENTS if agent_class(n).levels == ("skill_tree",)]
FAMILIES = ["addition", "subtraction", "multiplication", "division", "comparison", "two_step"]


@pytest.fixture(scope="module")
def tree_env():
    env = gym.make(
        ENV_ID,
        total_budget=96,
        step_budget=32,
        timings=False,
        task_options={"heldout_size": 10},
        student_options={"n_layer": 1, "n_embd": 32, "n_head": 2, "epochs": 1, "batch_size": 16},
    )
    yield env
    env.close()


def tree_obs(env, visible, expanded=(), accuracy=None, loss=None):
    """A hand-made observation: the named nodes visible/expanded, scores by name (others 0.5/2.0)."""
    u = env.unwrapped
    n = len(u.node_names)
    vis = np.zeros(n, bool)
    vis[[u.node_names.index(v) for v in visible]] = True
    exp = np.zeros(n, bool)
    exp[[u.node_names.index(v) for v in expanded]] = True
    has_children = np.array([bool(c) for c in u.node_children])
    acc = np.where(vis, 0.5, -1.0)
    los = np.where(vis, 2.0, -1.0)
    for name, value in (accuracy or {}).items():
        acc[u.node_names.index(name)] = value
    for name, value in (loss or {}).items():
        los[u.node_names.index(name)] = value
    return {
        "accuracy": acc.astype(np.float32),
        "loss": los.astype(np.float32),
        "visible": vis.astype(np.int8),
        "expanded": exp.astype(np.int8),
        "expandable": (vis & ~exp & has_children).astype(np.int8),
        "depth": u.node_depth.copy(),
        "leaves": u.node_leaves.copy(),
        "examples_seen": np.zeros(n, np.float32),
        "budget_left": np.array([96.0], np.float32),
    }


def _observations(env):
    """Edge cases, then observations of a real episode's shapes of tree."""
    u = env.unwrapped
    skills = [u.node_names[i] for i in u.node_children[0]]
    bands = [u.node_names[i] for i in u.node_children[u.node_names.index("add_carry")]]
    out = [
        tree_obs(env, FAMILIES),
        tree_obs(env, FAMILIES, accuracy={f: 1.0 for f in FAMILIES}),
        tree_obs(env, FAMILIES + skills, ["addition"], loss={"add_carry": 0.1}),
        tree_obs(env, FAMILIES + skills + bands, ["addition", "add_carry"], accuracy={b: 0.0 for b in bands}),
        tree_obs(env, [*u.node_names], [u.node_names[i] for i in range(21)]),  # everything open
    ]
    return out * 2


@pytest.mark.parametrize("name", TREE_AGENTS)
def test_actions_are_in_the_action_space_and_the_env_accepts_them(tree_env, name):
    agent = make_agent(name, tree_env)
    agent.reset(seed=0)
    for observation in _observations(tree_env):
        action = agent.act(observation, {})
        assert tree_env.action_space.contains(action), f"{name} acted {action!r}"
        tree_env.unwrapped._parse_action(action)
        visible = observation["visible"].astype(bool)
        assert not action["allocation"][~visible].any(), "weight on hidden nodes"
        assert not (action["expand"].astype(bool) & ~observation["expandable"].astype(bool)).any()


@pytest.mark.parametrize("name", TREE_AGENTS)
def test_state_round_trips_through_json_and_pickle(tree_env, name):
    observations = _observations(tree_env)
    agent = make_agent(name, tree_env)
    agent.reset(seed=11)
    for observation in observations[:4]:
        agent.act(observation, {})
    state = json.loads(json.dumps(agent.state_dict()))
    clone = pickle.loads(pickle.dumps(agent))
    expected = [agent.act(observation, {}) for observation in observations[4:]]
    restored = make_agent(name, tree_env)
    restored.reset(seed=999)
    restored.load_state_dict(state)
    for other in (restored, clone):
        got = [other.act(observation, {}) for observation in observations[4:]]
        for a, b in zip(expected, got):
            np.testing.assert_equal(a, b)


@pytest.mark.parametrize("name", TREE_ONLY_AGENTS)
def test_tree_agents_refuse_a_skill_list_env_and_the_other_way(tree_env, name):
    import datagym

    skill_list = gym.make(datagym.DEFAULT_ENV_ID, total_budget=96, step_budget=32)
    with pytest.raises(ConfigError, match=re.escape(f"Agent {name!r} is written for ['skill_tree'] envs, got a 'skill_list' env")):
        make_agent(name, skill_list)
    with pytest.raises(ConfigError, match="is written for \\['skill_list'\\] envs, got a 'skill_tree' env"):
        make_agent("uniform", tree_env)


def test_the_default_agent_of_the_tree_level_is_tree_triage(tree_env):
    assert default_agent(ENV_ID) == "tree_triage" == default_agent(tree_env)
    assert set(TREE_ONLY_AGENTS) >= {"explore_exploit", "tree_random", "tree_uniform"}


def idx_of(env, names):
    return [env.unwrapped.node_names.index(n) for n in names]


def _names(env, mask):
    return [env.unwrapped.node_names[i] for i in np.flatnonzero(mask)]


def test_explore_exploit_places_then_alternates_explore_and_exploit(tree_env):
    agent = make_agent("explore_exploit", tree_env)
    agent.reset(seed=0)
    losses = {"addition": 1.0, "subtraction": 3.0, "multiplication": 4.0, "division": 2.0, "comparison": 0.5, "two_step": 5.0}
    weights = lambda action: dict(zip(_names(tree_env, action["allocation"]), action["allocation"][action["allocation"] > 0]))  # noqa: E731
    # step 0: placement, the same data per leaf (so per skill) under every family, nothing expanded
    action = agent.act(tree_obs(tree_env, FAMILIES, loss=losses), {})
    assert not action["expand"].any()
    assert weights(action) == pytest.approx({f: (1.0 if i < 3 else 2 / 3) for i, f in enumerate(FAMILIES)})
    # step 1: explore the two coarsest unmastered nodes, lowest loss first; feed the lowest-loss
    # nodes until they cover a third of the open leaves (39 / 3 = 13: addition 9 + division 6)
    obs = tree_obs(tree_env, FAMILIES, loss=losses, accuracy={"comparison": 0.95})  # comparison is mastered
    action = agent.act(obs, {})
    assert _names(tree_env, action["expand"]) == ["addition", "division"]
    assert weights(action) == pytest.approx({"addition": 1.0, "division": 2 / 3})
    # step 2: exploit only; the revealed skills compete with the unexpanded families
    skills = ["add_no_carry", "add_carry", "add_3digit", "div_exact", "mod_1digit"]
    skill_loss = {"add_no_carry": 0.2, "add_carry": 0.8, "add_3digit": 6.0, "div_exact": 2.5, "mod_1digit": 0.9}
    obs = tree_obs(tree_env, FAMILIES + skills, ["addition", "division"], loss={**losses, **skill_loss},
                   accuracy={"comparison": 0.95, "add_no_carry": 0.92})
    action = agent.act(obs, {})
    assert not action["expand"].any()
    # open leaves 36 -> 12: add_carry 3, mod_1digit 3, div_exact 3, then subtraction 9 (loss 3.0)
    assert weights(action) == pytest.approx(
        {"subtraction": 1.0, "add_carry": 1 / 3, "div_exact": 1 / 3, "mod_1digit": 1 / 3}
    )
    # step 3: explore again, coarsest first: the unmastered families left, lowest loss first,
    # although the skills add_carry and mod_1digit have lower losses
    action = agent.act(obs, {})
    assert _names(tree_env, action["expand"]) == ["subtraction", "multiplication"]
    assert agent.phase(4) == "exploit" and agent.phase(5) == "explore"
    # step 5: with every unmastered family open, the unmastered skills with the lowest loss
    agent.act(obs, {})
    opened = FAMILIES[:4] + ["two_step"]
    obs = tree_obs(tree_env, FAMILIES + skills, opened, loss={**losses, **skill_loss},
                   accuracy={"comparison": 0.95, "add_no_carry": 0.92})
    action = agent.act(obs, {})
    assert _names(tree_env, action["expand"]) == ["add_carry", "mod_1digit"]


def test_explore_exploit_feeds_everything_visible_once_all_is_mastered(tree_env):
    agent = make_agent("explore_exploit", tree_env, share=0.5)
    agent.reset(seed=0)
    agent.act(tree_obs(tree_env, FAMILIES), {})
    action = agent.act(tree_obs(tree_env, FAMILIES, accuracy={f: 1.0 for f in FAMILIES}), {})
    assert not action["expand"].any()  # nothing promising to look into
    fed = idx_of(tree_env, _names(tree_env, action["allocation"]))
    covered = tree_env.unwrapped.node_leaves[fed].sum()
    assert 45 / 2 <= covered < 45 / 2 + 9  # half the leaves, give or take the last node taken


@pytest.mark.parametrize(
    "options, message",
    [
        ({"n_expand": -1}, "Expected n_expand to be a non-negative integer, got -1."),
        ({"share": 0.0}, "Expected share in (0, 1], got 0.0."),
        ({"mastery": 0.0}, "Expected mastery in (0, 1], got 0.0."),
    ],
)
def test_explore_exploit_refuses_bad_options(tree_env, options, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make_agent("explore_exploit", tree_env, **options)


def test_tree_uniform_never_expands_and_weighs_every_visible_node_the_same(tree_env):
    agent = make_agent("tree_uniform", tree_env)
    for observation in _observations(tree_env):
        action = agent.act(observation, {})
        assert not action["expand"].any()
        np.testing.assert_array_equal(action["allocation"], observation["visible"].astype(np.float32))


def test_tree_random_explores_about_every_other_step_within_the_expandable_nodes(tree_env):
    agent = make_agent("tree_random", tree_env)
    agent.reset(seed=5)
    obs = tree_obs(tree_env, FAMILIES + ["add_carry"], ["addition"])
    explored = 0
    for _ in range(200):
        action = agent.act(obs, {})
        expanded = action["expand"].astype(bool)
        assert expanded.sum() in (0, 2)
        assert not (expanded & ~obs["expandable"].astype(bool)).any()
        explored += expanded.any()
        assert np.isclose(action["allocation"].sum(), 1.0, atol=1e-5)
    assert 70 <= explored <= 130
    a, b = make_agent("tree_random", tree_env), make_agent("tree_random", tree_env)
    a.reset(seed=1)
    b.reset(seed=1)
    np.testing.assert_equal([a.act(obs, {}) for _ in range(5)], [b.act(obs, {}) for _ in range(5)])


def test_an_explore_exploit_episode_is_the_same_for_the_same_seed(tree_env):
    def episode():
        agent = make_agent("explore_exploit", tree_env)
        obs, info = tree_env.reset(seed=2)
        agent.reset(2)
        trace, done = [], False
        while not done:
            action = agent.act(obs, info)
            obs, reward, terminated, truncated, info = tree_env.step(action)
            trace.append((action, obs, reward, info))
            done = terminated or truncated
        return trace

    first, second = episode(), episode()
    np.testing.assert_equal(first, second)
    assert any(step[3]["teacher/expanded"] for step in first)
    assert "student/test_macro_accuracy" in first[-1][3]
