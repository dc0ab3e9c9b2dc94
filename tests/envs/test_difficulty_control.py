"""The Skill-List env's ``difficulty_control`` option: off it changes nothing; on, the action
carries a difficulty per skill that reaches the generators, bad difficulties are refused with
the env unchanged, the observation scores each skill by difficulty band, the env passes
Gymnasium's checker and replays a seed exactly, and every registered skill-list agent can
drive it."""

from __future__ import annotations

import pickle
import re
import warnings

import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

from datagym.agents import offline_agents, agent_class, make_agent
from datagym.envs.skill_list_env import DIFFICULTY_BANDS, SkillListEnv, difficulty_band
from datagym.errors import ConfigError, InvalidActionError
from datagym.runner import run_episode

N_SKILLS = 15
STEP_BUDGET = 32
TOTAL_BUDGET = 96
BAND_KEYS = {"accuracy_by_difficulty", "loss_by_difficulty"}
SKILL_LIST_AGENTS = sorted(n for n in offline_agents() if "skill_list" in agent_class(n).levels)


@pytest.fixture
def env(make_env):
    return make_env(timings=False, difficulty_control=True)


def _action(weights=1.0, difficulty=0.5) -> dict:
    return {
        "weights": np.broadcast_to(np.asarray(weights, np.float32), (N_SKILLS,)).copy(),
        "difficulty": np.broadcast_to(np.asarray(difficulty, np.float32), (N_SKILLS,)).copy(),
    }


def _state(raw: SkillListEnv) -> dict:
    return {
        "budget_left": raw.budget_left,
        "steps": raw.steps,
        "examples_seen": raw.examples_seen.copy(),
        "accuracy": raw.accuracy.copy(),
        "rng": raw.np_random.bit_generator.state,
        "last_examples": [ex.to_json() for ex in raw.last_examples],
    }


def _rollout(env, seed: int, actions: list) -> list:
    obs, info = env.reset(seed=seed)
    trace = [(obs, info)]
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        trace.append((obs, reward, terminated, truncated, info))
        if terminated or truncated:
            return trace
    pytest.fail(f"the episode did not end within {len(actions)} steps")


def _sampled_actions(env, n: int = 10, seed: int = 1234) -> list:
    env.action_space.seed(seed)
    return [env.action_space.sample() for _ in range(n)]


# -- option off: nothing changes ------------------------------------------------------------
@pytest.mark.parametrize("overrides", [{}, {"difficulty_control": False}], ids=["default", "explicit_false"])
def test_option_off_leaves_the_spaces_as_they_were(make_env, overrides):
    env = make_env(timings=False, **overrides)
    assert env.unwrapped.difficulty_control is False
    assert env.action_space == spaces.Box(0.0, 1.0, shape=(N_SKILLS,), dtype=np.float32)
    assert set(env.observation_space.spaces) == {"accuracy", "examples_seen", "budget_left", "loss"}
    obs, _ = env.reset(seed=0)
    assert set(obs) == {"accuracy", "examples_seen", "budget_left", "loss"}


def test_option_off_gives_the_same_episode_as_no_option(make_env):
    default, explicit = make_env(timings=False), make_env(timings=False, difficulty_control=False)
    actions = _sampled_actions(default)
    np.testing.assert_equal(_rollout(default, 3, actions), _rollout(explicit, 3, actions))


def test_option_off_still_draws_each_examples_difficulty_at_random(make_env):
    env = make_env(timings=False)
    env.reset(seed=0)
    env.step(np.ones(N_SKILLS, np.float32))
    assert len({ex.provenance["difficulty"] for ex in env.unwrapped.last_examples}) > 10


@pytest.mark.parametrize("value", ["yes", 1, None, np.bool_(True)])
def test_a_non_boolean_option_is_refused(fast_env_kwargs, value):
    with pytest.raises(ConfigError, match=re.escape(f"Expected difficulty_control to be true or false, got {value!r}.")):
        SkillListEnv(difficulty_control=value, **fast_env_kwargs)


# -- option on: spaces ----------------------------------------------------------------------
def test_option_on_spaces(env):
    assert env.unwrapped.difficulty_control is True
    box = spaces.Box(0.0, 1.0, shape=(N_SKILLS,), dtype=np.float32)
    assert isinstance(env.action_space, spaces.Dict)
    assert set(env.action_space.spaces) == {"weights", "difficulty"}
    assert env.action_space["weights"] == box and env.action_space["difficulty"] == box
    assert set(env.observation_space.spaces) == {"accuracy", "examples_seen", "budget_left", "loss"} | BAND_KEYS
    for key in BAND_KEYS:
        assert env.observation_space[key].shape == (N_SKILLS, DIFFICULTY_BANDS)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)


# -- the difficulty reaches the generators --------------------------------------------------
def test_each_skills_difficulty_reaches_its_examples(env):
    raw = env.unwrapped
    env.reset(seed=0)
    difficulty = np.linspace(0.0, 1.0, N_SKILLS).astype(np.float32)
    _, _, _, _, info = env.step(_action(1.0, difficulty))
    assert sum(info["teacher/requested"].values()) == STEP_BUDGET
    assert {ex.skill for ex in raw.last_examples} == set(raw.skill_names)
    for ex in raw.last_examples:
        expected = round(float(difficulty[raw.skill_names.index(ex.skill)]), 4)
        assert ex.provenance["difficulty"] == expected, ex


def test_the_plan_carries_difficulty_only_for_skills_that_get_data(env):
    raw = env.unwrapped
    env.reset(seed=0)
    weights = np.zeros(N_SKILLS, np.float32)
    weights[[2, 7]] = 1.0
    plan = raw._plan_from_action(_action(weights, 0.3))
    assert set(plan.counts) == set(plan.difficulty) == {raw.skill_names[2], raw.skill_names[7]}
    assert all(d == pytest.approx(0.3) for d in plan.difficulty.values())


def test_difficulty_changes_the_data(env):
    raw = env.unwrapped
    i = raw.skill_names.index("add_3digit")
    weights = np.zeros(N_SKILLS, np.float32)
    weights[i] = 1.0
    largest = {}
    for d in (0.0, 1.0):
        env.reset(seed=0)
        env.step(_action(weights, d))
        operands = [int(x) for ex in raw.last_examples for x in ex.question.split("+")]
        largest[d] = max(operands)
    # add_3digit at difficulty 0 draws operands up to halfway (550); at 1 up to 999.
    assert largest[0.0] <= 550 < largest[1.0]


def test_all_zero_weights_spend_nothing_whatever_the_difficulty(env):
    env.reset(seed=0)
    _, reward, _, _, info = env.step(_action(0.0, 0.9))
    assert info["teacher/requested"] == {} and info["teacher/budget_left"] == TOTAL_BUDGET
    assert reward == 0.0


# -- bad actions ----------------------------------------------------------------------------
def _bad_actions(skills):
    def with_(key, index, value):
        action = _action()
        action[key][index] = value
        return action

    good = _action()
    shape_w = "Pass one weight per skill: env.unwrapped.skill_names."
    shape_d = "Pass one difficulty in [0, 1] per skill: env.unwrapped.skill_names."
    keys = "['difficulty', 'weights']"
    return [
        ("array", np.ones(N_SKILLS, np.float32),
         f"Expected a dict action with keys {keys} (the env has difficulty_control=True), got ndarray."),
        ("list", [1.0] * N_SKILLS, "Expected a dict action with keys"),
        ("missing_difficulty", {"weights": good["weights"]}, f"Expected action keys {keys}, got ['weights']. Missing: ['difficulty']."),
        ("missing_weights", {"difficulty": good["difficulty"]}, f"Expected action keys {keys}, got ['difficulty']. Missing: ['weights']."),
        ("extra_key", {**good, "temperature": 1.0}, f"Expected action keys {keys}, got ['difficulty', 'temperature', 'weights']. Unexpected: ['temperature']."),
        ("empty", {}, f"Expected action keys {keys}, got []. Missing: ['difficulty', 'weights']."),
        ("weights_short", {**good, "weights": np.ones(3)}, f"Expected action['weights'] of shape ({N_SKILLS},), got (3,). {shape_w}"),
        ("weights_text", {**good, "weights": "abc"}, f"Expected action['weights'] to be numbers (bool, int or float) of shape ({N_SKILLS},), got str: 'abc'. Pass numbers, not text."),
        ("weights_nan", with_("weights", 2, np.nan), f"Expected finite weights, got NaN or infinity for ['{skills[2]}']."),
        ("weights_negative", with_("weights", 4, -0.5), f"Expected non-negative weights, got negative ones: {{'{skills[4]}': -0.5}}."),
        ("difficulty_short", {**good, "difficulty": np.full(3, 0.5)}, f"Expected action['difficulty'] of shape ({N_SKILLS},), got (3,). {shape_d}"),
        ("difficulty_scalar", {**good, "difficulty": 0.5}, f"Expected action['difficulty'] of shape ({N_SKILLS},), got (). {shape_d}"),
        ("difficulty_2d", {**good, "difficulty": np.full((1, N_SKILLS), 0.5)}, f"got (1, {N_SKILLS}). {shape_d}"),
        ("difficulty_text", {**good, "difficulty": ["hard"] * N_SKILLS}, f"Expected action['difficulty'] to be numbers (bool, int or float) of shape ({N_SKILLS},), got list holding str: 'hard'. Pass numbers, not text."),
        ("difficulty_nan", with_("difficulty", 1, np.nan), f"Expected finite difficulties, got NaN or infinity for ['{skills[1]}']."),
        ("difficulty_inf", with_("difficulty", 0, np.inf), f"Expected finite difficulties, got NaN or infinity for ['{skills[0]}']."),
        ("difficulty_above_one", with_("difficulty", 3, 1.5), f"Expected difficulties in [0, 1], got {{'{skills[3]}': 1.5}}."),
        ("difficulty_negative", with_("difficulty", 5, -0.25), f"Expected difficulties in [0, 1], got {{'{skills[5]}': -0.25}}."),
    ]


BAD_IDS = [case[0] for case in _bad_actions(["s"] * N_SKILLS)]


@pytest.mark.parametrize("case", BAD_IDS)
def test_bad_action_raises_and_leaves_the_env_as_it_was(make_env, case):
    env = make_env(timings=False, difficulty_control=True)
    raw = env.unwrapped
    _, action, message = next(c for c in _bad_actions(raw.skill_names) if c[0] == case)
    env.reset(seed=4)
    before = _state(raw)
    with pytest.raises(InvalidActionError, match=re.escape(message)) as excinfo:
        env.step(action)
    assert isinstance(excinfo.value, ValueError)
    np.testing.assert_equal(_state(raw), before)

    # Still usable, and exactly as if the bad action had never been sent.
    good = _action(np.linspace(0.1, 1.0, N_SKILLS), np.linspace(1.0, 0.0, N_SKILLS))
    result = env.step(good)
    reference = make_env(timings=False, difficulty_control=True)
    reference.reset(seed=4)
    np.testing.assert_equal(result, reference.step(good))


def test_a_zero_weight_skill_still_needs_a_valid_difficulty(env):
    env.reset(seed=0)
    weights = np.ones(N_SKILLS, np.float32)
    weights[6] = 0.0
    action = _action(weights)
    action["difficulty"][6] = 2.0
    with pytest.raises(InvalidActionError, match=re.escape("Expected difficulties in [0, 1], got {")):
        env.step(action)


def test_the_boundaries_zero_and_one_are_valid_difficulties(env):
    env.reset(seed=0)
    difficulty = np.zeros(N_SKILLS, np.float32)
    difficulty[::2] = 1.0
    _, _, _, _, info = env.step(_action(1.0, difficulty))
    assert info["teacher/generated"] == STEP_BUDGET


def test_any_mapping_with_lists_is_accepted(env):
    env.reset(seed=0)
    _, _, _, _, info = env.step({"difficulty": [0.5] * N_SKILLS, "weights": [1] * N_SKILLS})
    assert info["teacher/generated"] == STEP_BUDGET


# -- the observation's difficulty bands -----------------------------------------------------
def test_difficulty_band_edges():
    assert [difficulty_band(d) for d in (0.0, 0.2499, 0.25, 0.5, 0.7499, 0.75, 0.999, 1.0)] == [0, 0, 1, 2, 2, 3, 3, 3]


def test_validation_records_carry_difficulty_and_loss(env):
    raw = env.unwrapped
    env.reset(seed=0)
    records = raw.last_validation
    assert len(records) == N_SKILLS * 50
    assert all(0.0 <= r["difficulty"] <= 1.0 and np.isfinite(r["loss"]) for r in records)
    for i, name in enumerate(raw.skill_names):
        mine = [r["loss"] for r in records if r["skill"] == name]
        assert raw.loss[i] == pytest.approx(np.mean(mine))


def test_band_scores_follow_the_validation_records(env):
    raw = env.unwrapped
    env.reset(seed=1)
    obs, *_ = env.step(_action(1.0, 0.9))
    records = raw.last_validation
    for i, name in enumerate(raw.skill_names):
        mine = [r for r in records if r["skill"] == name]
        counts = np.zeros(DIFFICULTY_BANDS)
        for b in range(DIFFICULTY_BANDS):
            band = [r for r in mine if difficulty_band(r["difficulty"]) == b]
            counts[b] = len(band)
            assert band, f"{name} has no validation question in band {b}"
            assert obs["accuracy_by_difficulty"][i, b] == pytest.approx(np.mean([r["correct"] for r in band]), abs=1e-6)
            assert obs["loss_by_difficulty"][i, b] == pytest.approx(np.mean([r["loss"] for r in band]), rel=1e-5)
        # The bands partition the skill's questions: their weighted mean is the skill's score.
        weighted = (obs["accuracy_by_difficulty"][i] * counts).sum() / counts.sum()
        assert weighted == pytest.approx(obs["accuracy"][i], abs=1e-6)


def test_empty_bands_take_the_skill_score_and_undated_questions_count_everywhere(env):
    raw = env.unwrapped
    env.reset(seed=0)
    first, second = raw.skill_names[0], raw.skill_names[1]
    raw.last_validation = [
        {"skill": first, "correct": True, "loss": 0.5, "difficulty": 0.1},
        {"skill": first, "correct": False, "loss": 2.5, "difficulty": 0.9},
        {"skill": second, "correct": True, "loss": 1.0, "difficulty": None},
        {"skill": "not_a_skill", "correct": True, "loss": 0.0, "difficulty": 0.5},
    ]
    raw.accuracy = np.full(N_SKILLS, 0.25)
    raw.loss = np.full(N_SKILLS, 3.0)
    accuracy, loss = raw.scores_by_difficulty()
    np.testing.assert_allclose(accuracy[0], [1.0, 0.25, 0.25, 0.0])
    np.testing.assert_allclose(loss[0], [0.5, 3.0, 3.0, 2.5])
    np.testing.assert_allclose(accuracy[1], [1.0] * DIFFICULTY_BANDS)
    np.testing.assert_allclose(loss[1], [1.0] * DIFFICULTY_BANDS)
    np.testing.assert_allclose(accuracy[2:], 0.25)


# -- the Gymnasium contract with the option on ----------------------------------------------
@pytest.mark.parametrize("render_mode", [None, "ansi"])
def test_env_checker_passes_with_difficulty_control(make_env, render_mode):
    env = make_env(timings=False, difficulty_control=True, render_mode=render_mode)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    complaints = [str(w.message) for w in caught if "render fps" not in str(w.message)]
    assert complaints == []


def test_same_seed_gives_the_same_episode_with_difficulty_control(make_env):
    first = make_env(timings=False, difficulty_control=True)
    second = make_env(timings=False, difficulty_control=True)
    actions = _sampled_actions(first)
    trace_a = _rollout(first, seed=7, actions=actions)
    saved = np.random.get_state()
    try:
        np.random.seed(99)
        trace_b = _rollout(second, seed=7, actions=actions)
    finally:
        np.random.set_state(saved)
    assert len(trace_a) == len(trace_b) >= 2
    np.testing.assert_equal(trace_a, trace_b)
    assert "student/test_macro_accuracy" in trace_a[-1][-1]
    # And a second reset of the same env replays it too.
    np.testing.assert_equal(_rollout(first, seed=7, actions=actions), trace_a)


def test_different_difficulties_give_different_episodes(make_env):
    env = make_env(timings=False, difficulty_control=True)
    env.reset(seed=0)
    env.step(_action(1.0, 0.0))
    easy = [ex.question for ex in env.unwrapped.last_examples]
    env.reset(seed=0)
    env.step(_action(1.0, 1.0))
    hard = [ex.question for ex in env.unwrapped.last_examples]
    assert easy != hard


def test_pickle_round_trip_mid_episode_with_difficulty_control(make_env):
    env = make_env(timings=False, difficulty_control=True)
    actions = _sampled_actions(env, n=2)
    env.reset(seed=5)
    env.step(actions[0])
    copy = pickle.loads(pickle.dumps(env))
    assert copy.unwrapped.difficulty_control is True
    np.testing.assert_equal(copy.step(actions[1]), env.step(actions[1]))


# -- every skill-list agent drives the env --------------------------------------------------
@pytest.mark.parametrize("name", SKILL_LIST_AGENTS)
def test_every_skill_list_agent_runs_an_episode_with_difficulty_control(make_env, name):
    env = make_env(timings=False, difficulty_control=True)
    agent = make_agent(name, env)
    summary = run_episode(env, agent, seed=0)
    assert summary["steps"] >= 1
    assert 0.0 <= summary["test_macro_accuracy"] <= 1.0
    if name != "no_teaching":
        assert summary["examples_generated"] == TOTAL_BUDGET
        assert all(0.0 <= ex.provenance["difficulty"] <= 1.0 for ex in env.unwrapped.last_examples)
