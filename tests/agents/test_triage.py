"""Triage: equal placement steps, then the skills whose loss fell least and the mastered ones on
a floor, the same rule at the three levels."""

from __future__ import annotations

import json
from collections import Counter

import gymnasium as gym
import numpy as np
import pytest

from datagym.agents import make_agent
from datagym.agents.triage import TriageRule
from datagym.envs.arithmetic.task import ArithmeticTask
from datagym.runner import run_episode

TASK = ArithmeticTask()


def test_placement_steps_are_equal_then_the_least_falling_skills_go_to_the_floor():
    rule = TriageRule(5, placement_steps=3, n_stuck=2, floor=0.25, mastery=0.95)
    accuracy = np.zeros(5)
    assert rule.weights(np.full(5, 3.4), accuracy).tolist() == [1.0] * 5  # untrained: placement
    after_one = np.array([2.0, 2.0, 1.0, 2.0, 1.5])
    assert rule.weights(after_one, accuracy).tolist() == [1.0] * 5  # baseline, still placement
    assert rule.weights(after_one * 0.9, accuracy).tolist() == [1.0] * 5
    # relative falls since the baseline: 10%, 50%, 5%, 40%, 20% -> skills 2 and 0 are stuck
    now = after_one * np.array([0.9, 0.5, 0.95, 0.6, 0.8])
    assert rule.weights(now, accuracy).tolist() == [0.25, 1.0, 0.25, 1.0, 1.0]
    # the stuck set stays, whatever the losses do next; mastery is read every step
    later = np.array([0.1, 3.0, 0.1, 3.0, 3.0])
    assert rule.weights(later, np.array([0, 0.96, 0, 0, 0])).tolist() == [0.25, 0.25, 0.25, 1.0, 1.0]
    assert rule.weights(later, np.array([0, 0.90, 0, 0, 0])).tolist() == [0.25, 1.0, 0.25, 1.0, 1.0]


def test_mastered_skills_keep_their_own_floor():
    rule = TriageRule(4, placement_steps=2, n_stuck=1, floor=0.0, mastered_floor=0.5)
    for loss in ([3.0] * 4, [2.0] * 4):
        rule.weights(np.array(loss), np.zeros(4))
    assert rule.weights(np.array([1.0, 1.9, 1.0, 0.1]), np.array([0, 0, 0, 0.99])).tolist() == [1.0, 0.0, 1.0, 0.5]


def test_a_zero_floor_with_everything_low_falls_back_to_equal_weights():
    rule = TriageRule(3, placement_steps=2, n_stuck=1, floor=0.0, mastery=0.5)
    for loss in ([3.0] * 3, [2.0] * 3):
        rule.weights(np.array(loss), np.zeros(3))
    assert rule.weights(np.array([1.0, 1.5, 1.0]), np.array([0.9, 0.0, 0.9])).tolist() == [1.0, 1.0, 1.0]


def test_hidden_skills_delay_the_baseline():
    rule = TriageRule(3, placement_steps=2, n_stuck=1)
    rule.weights(np.full(3, -1.0), np.zeros(3))
    rule.weights(np.full(3, -1.0), np.zeros(3))  # still hidden: no baseline, still equal
    assert rule.baseline is None
    assert rule.weights(np.array([2.0, 2.0, 2.0]), np.zeros(3)).tolist() == [1.0] * 3
    assert rule.weights(np.array([1.0, 1.9, 1.0]), np.zeros(3)).tolist() == [1.0, 0.25, 1.0]


def test_options_are_checked():
    with pytest.raises(ValueError, match="Expected placement_steps an integer of at least 2, got 1"):
        TriageRule(5, placement_steps=1)
    with pytest.raises(ValueError, match=r"Expected n_stuck an integer in \[0, 4\], got 5"):
        TriageRule(5, n_stuck=5)
    with pytest.raises(ValueError, match=r"Expected floor a number in \[0.0, 1.0\], got 2"):
        TriageRule(5, floor=2)
    with pytest.raises(ValueError, match=r"Expected mastery a number in \[0.0, 1.0\], got True"):
        TriageRule(5, mastery=True)


def test_the_state_round_trips_through_json():
    rule = TriageRule(4, placement_steps=2, n_stuck=1)
    for loss in ([3.0] * 4, [2.0, 2.0, 2.0, 2.0], [1.0, 1.9, 1.5, 1.2]):
        rule.weights(np.array(loss), np.zeros(4))
    copy = TriageRule(4, placement_steps=2, n_stuck=1)
    copy.load_state_dict(json.loads(json.dumps(rule.state_dict())))
    nxt = np.array([0.5, 1.0, 1.0, 1.0])
    assert copy.weights(nxt, np.zeros(4)).tolist() == rule.weights(nxt, np.zeros(4)).tolist() == [1, 0.25, 1, 1]


def test_the_skill_list_agent_follows_the_rule(skill_list_env, obs):
    agent = make_agent("triage", skill_list_env, placement_steps=2, n_stuck=3, floor=0.5)
    agent.reset(seed=0)
    n = 15
    assert agent.act(obs(np.zeros(n), loss=np.full(n, 3.4)), {}).tolist() == [1.0] * n
    agent.act(obs(np.zeros(n), loss=np.full(n, 2.0)), {})
    loss = np.full(n, 1.0)
    loss[[2, 8, 13]] = 1.9  # three-digit sums, two-digit products, sums then products: barely fell
    action = agent.act(obs(np.zeros(n), loss=loss), {})
    assert np.flatnonzero(action < 1).tolist() == [2, 8, 13] and set(action[[2, 8, 13]]) == {0.5}


def test_the_open_ended_agent_splits_generator_problems_by_the_rule(open_ended_env):
    agent = make_agent("open_ended_triage", open_ended_env, placement_steps=2, n_stuck=1, floor=0.0)
    agent.reset(seed=0)

    def observe(loss: dict[str, float], accuracy: dict[str, float] | None = None) -> str:
        skills = {s: {"errors": 40, "total": 50, "accuracy": (accuracy or {}).get(s, 0.0),
                      "loss": loss.get(s, 1.0), "seen": 0} for s in TASK.skill_names}
        return json.dumps({"max_problems": 39, "skills": skills, "errors": []})

    def skills_of(action: str) -> Counter:
        problems = json.loads(action)
        assert all(p["answer"] == TASK.label(p["question"]) for p in problems)
        return Counter(TASK.classify(p["question"]) for p in problems)

    assert set(skills_of(agent.act(observe({}), {})).values()) == {2, 3}  # 39 over 15 skills
    agent.act(observe({s: 2.0 for s in TASK.skill_names}), {})
    counts = skills_of(agent.act(observe({"mul_2digit": 1.95}, {"compare_diff_length": 0.97}), {}))
    assert set(counts) == set(TASK.skill_names) - {"mul_2digit", "compare_diff_length"}
    assert set(counts.values()) == {3}
    with pytest.raises(ValueError, match="missing"):
        agent.act(json.dumps({"max_problems": 4, "skills": {}, "errors": []}), {})


def test_the_tree_agent_uncovers_the_skills_once_and_then_allocates_over_them(fast_env_kwargs):
    env = gym.make("datagym/Arithmetic-SkillTree-v1", timings=False, **fast_env_kwargs)
    agent = make_agent("tree_triage", env, placement_steps=2, n_stuck=5)
    agent.reset(seed=0)
    u = env.unwrapped
    skills = [i for i, d in enumerate(u.node_depth) if d == 1]
    obs, info = env.reset(seed=0)
    first = agent.act(obs, info)
    assert [u.node_names[i] for i in np.flatnonzero(first["expand"])] == list(u.node_names[:6])
    assert first["allocation"][:6].tolist() == pytest.approx([1, 1, 1, 2 / 3, 2 / 3, 2 / 3])  # per band
    obs, _, _, _, info = env.step(first)
    for _ in range(2):  # the second placement step, then the triage
        action = agent.act(obs, info)
        assert not action["expand"].any()
        assert np.flatnonzero(action["allocation"]).tolist() == skills
        obs, _, _, _, info = env.step(action)
    assert int(agent.rule.stuck.sum()) == 5
    assert sorted(set(action["allocation"][skills].round(4))) in ([0.25, 1.0], [1.0])


@pytest.mark.parametrize("env_id, name", [
    ("datagym/Arithmetic-SkillList-v1", "triage"),
    ("datagym/Arithmetic-OpenEnded-v1", "open_ended_triage"),
    ("datagym/Arithmetic-SkillTree-v1", "tree_triage"),
])
def test_it_runs_an_episode_with_every_example_accepted(fast_env_kwargs, env_id, name):
    env = gym.make(env_id, **fast_env_kwargs)
    summary = run_episode(env, make_agent(name, env), seed=0)
    rejected = summary["examples_rejected"]
    assert set(rejected) <= {"test_contamination"}, rejected
    assert summary["steps"] == 3


def test_the_tree_agent_checks_its_options_against_the_tasks_skills_before_any_episode(fast_env_kwargs):
    env = gym.make("datagym/Arithmetic-SkillTree-v1", **fast_env_kwargs)
    with pytest.raises(ValueError, match=r"Expected n_stuck an integer in \[0, 14\], got 15"):
        make_agent("tree_triage", env, n_stuck=15)
