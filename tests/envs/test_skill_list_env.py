"""The Skill-List env: action validation, budget accounting, episode end, info, the
contamination guard and rendering."""

from __future__ import annotations

import math
import re
from fractions import Fraction

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import datagym
from datagym.engine import Engine, Plan
from datagym.envs.skill_list_env import SkillListEnv, allocate
from datagym.errors import InvalidActionError
from datagym.types import Example

N_SKILLS = 15
STEP_BUDGET = 32  # fast_env_kwargs
TOTAL_BUDGET = 96

STEP_INFO_KEYS = {
    "student/accuracy",
    "student/macro_accuracy",
    "student/train_loss",
    "teacher/requested",
    "teacher/generated",
    "teacher/accepted",
    "teacher/rejected",
    "teacher/budget_left",
    "time/generate",
    "time/verify",
    "time/train",
    "time/evaluate",
    "time/step",
}
TEST_KEYS = {"student/test_accuracy", "student/test_macro_accuracy"}


@pytest.fixture
def env(make_env):
    return make_env(timings=False)


def _state(raw: SkillListEnv) -> dict:
    """The episode state a rejected action must leave alone."""
    return {
        "budget_left": raw.budget_left,
        "steps": raw.steps,
        "examples_seen": raw.examples_seen.copy(),
        "accuracy": raw.accuracy.copy(),
        "rng": raw.np_random.bit_generator.state,
    }


def _one_hot(i: int, n: int = N_SKILLS) -> np.ndarray:
    action = np.zeros(n, dtype=np.float32)
    action[i] = 1.0
    return action


# -- spaces ---------------------------------------------------------------------------------
def test_spaces_follow_the_skills(env):
    raw = env.unwrapped
    assert len(raw.skill_names) == N_SKILLS
    assert env.action_space.shape == (N_SKILLS,)
    assert {"accuracy", "examples_seen", "budget_left"} <= set(env.observation_space.spaces)
    assert env.observation_space["examples_seen"].high.max() == TOTAL_BUDGET
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert obs["budget_left"].tolist() == [TOTAL_BUDGET]


# -- invalid actions ------------------------------------------------------------------------
def _bad_actions(skills):
    nan = np.ones(N_SKILLS)
    nan[2] = np.nan
    inf = np.ones(N_SKILLS)
    inf[0] = np.inf
    both = np.ones(N_SKILLS)
    both[[1, 3]] = [-np.inf, np.nan]
    negative = np.ones(N_SKILLS)
    negative[4] = -0.5
    shape_help = "Pass one weight per skill: env.unwrapped.skill_names."
    return [
        ("short", np.ones(3), f"Expected action of shape ({N_SKILLS},), got (3,). {shape_help}"),
        ("2d", np.ones((1, N_SKILLS)), f"Expected action of shape ({N_SKILLS},), got (1, {N_SKILLS}). {shape_help}"),
        ("scalar", 1.0, f"Expected action of shape ({N_SKILLS},), got (). {shape_help}"),
        ("empty", [], f"Expected action of shape ({N_SKILLS},), got (0,). {shape_help}"),
        ("nan", nan, f"Expected finite weights, got NaN or infinity for ['{skills[2]}']."),
        ("inf", inf, f"Expected finite weights, got NaN or infinity for ['{skills[0]}']."),
        ("nan_and_-inf", both, f"Expected finite weights, got NaN or infinity for ['{skills[1]}', '{skills[3]}']."),
        ("negative", negative, f"Expected non-negative weights, got negative ones: {{'{skills[4]}': -0.5}}."),
        ("str", "abc", f"Expected action to be numbers (bool, int or float) of shape ({N_SKILLS},), got str: 'abc'. Pass numbers, not text."),
        ("words", ["a"] * N_SKILLS, f"Expected action to be numbers (bool, int or float) of shape ({N_SKILLS},), got list holding str: 'a'. Pass numbers, not text."),
        ("dict", {}, f"Expected action to be numbers (bool, int or float) of shape ({N_SKILLS},), got dict: {{}}. {shape_help}"),
        ("complex", [1j] * N_SKILLS, "got list holding complex: 1j."),
        ("none", None, "got NoneType: None."),
    ]


BAD_ACTION_IDS = [case[0] for case in _bad_actions(["s"] * N_SKILLS)]


@pytest.mark.parametrize("case", BAD_ACTION_IDS)
def test_bad_action_raises_and_leaves_the_env_as_it_was(make_env, case):
    env = make_env(timings=False)
    raw = env.unwrapped
    _, action, message = next(c for c in _bad_actions(raw.skill_names) if c[0] == case)
    env.reset(seed=4)
    before = _state(raw)
    with pytest.raises(InvalidActionError, match=re.escape(message)) as excinfo:
        env.step(action)
    assert isinstance(excinfo.value, ValueError)
    after = _state(raw)
    np.testing.assert_equal(after, before)

    # Still usable, and exactly as if the bad action had never been sent.
    good = np.linspace(0.1, 1.0, N_SKILLS)
    result = env.step(good)
    assert result[4]["teacher/budget_left"] == TOTAL_BUDGET - STEP_BUDGET
    reference = make_env(timings=False)
    reference.reset(seed=4)
    np.testing.assert_equal(result, reference.step(good))


def test_bad_action_on_the_unwrapped_env_also_raises(env):
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match=re.escape("got (2,)")):
        env.unwrapped.step(np.ones(2))
    assert env.unwrapped.budget_left == TOTAL_BUDGET


def test_weights_are_relative_and_may_exceed_one(env):
    raw = env.unwrapped
    env.reset(seed=0)
    weights = np.linspace(0.0, 1.0, N_SKILLS)
    assert raw._plan_from_action(weights * 7.5).counts == raw._plan_from_action(weights).counts
    assert raw._plan_from_action(weights.tolist()).counts == raw._plan_from_action(weights).counts


def test_all_zero_action_spends_nothing_and_trains_nothing(env):
    raw = env.unwrapped
    obs0, info0 = env.reset(seed=2)
    obs, reward, terminated, truncated, info = env.step(np.zeros(N_SKILLS, dtype=np.float32))
    assert (terminated, truncated) == (False, False)
    assert reward == 0.0
    assert info["teacher/requested"] == {}
    assert info["teacher/generated"] == info["teacher/accepted"] == 0
    assert info["teacher/rejected"] == {}
    assert info["teacher/budget_left"] == TOTAL_BUDGET
    assert math.isnan(info["student/train_loss"])
    assert info["student/accuracy"] == info0["student/accuracy"]
    np.testing.assert_equal(obs, obs0)
    assert raw.steps == 1


# -- allocate -------------------------------------------------------------------------------
weights_strategy = st.lists(
    st.one_of(st.just(0.0), st.floats(min_value=1e-6, max_value=1e6)), min_size=1, max_size=20
).filter(lambda w: sum(w) > 0)


@settings(max_examples=200, deadline=None)
@given(weights=weights_strategy, total=st.integers(min_value=0, max_value=2000))
def test_allocate_sums_exactly_and_is_proportional(weights, total):
    w = np.asarray(weights, dtype=np.float64)
    counts = allocate(w, total)
    assert counts.dtype.kind == "i"
    assert counts.shape == w.shape
    assert int(counts.sum()) == total
    assert (counts >= 0).all()
    exact_sum = sum(Fraction(x) for x in weights)
    for count, weight in zip(counts.tolist(), weights):
        share = Fraction(weight) / exact_sum * total
        assert abs(count - share) < 1 + 1e-9, (count, float(share))
        if weight == 0:
            assert count == 0


@settings(max_examples=100, deadline=None)
@given(weights=weights_strategy, total=st.integers(min_value=0, max_value=2000), power=st.integers(-20, 20))
def test_allocate_depends_only_on_relative_weights(weights, total, power):
    w = np.asarray(weights, dtype=np.float64)
    np.testing.assert_array_equal(allocate(w * 2.0**power, total), allocate(w, total))


@settings(max_examples=100, deadline=None)
@given(weight=st.floats(min_value=1e-3, max_value=1e3), n=st.integers(1, 20), total=st.integers(0, 500))
def test_allocate_equal_weights_differ_by_at_most_one_and_favour_low_indices(weight, n, total):
    counts = allocate(np.full(n, weight), total)
    assert counts.max() - counts.min() <= 1
    assert (np.diff(counts) <= 0).all()  # ties go to the lower index


def test_allocate_examples():
    np.testing.assert_array_equal(allocate(np.array([1.0, 1.0, 1.0]), 32), [11, 11, 10])
    np.testing.assert_array_equal(allocate(np.array([0.0, 3.0, 1.0]), 8), [0, 6, 2])
    np.testing.assert_array_equal(allocate(np.array([0.0, 0.0, 2.0]), 5), [0, 0, 5])
    np.testing.assert_array_equal(allocate(np.array([5e-324, 0.0]), 10), [10, 0])


def test_allocate_survives_weights_whose_sum_overflows():
    # The action docstring: "any finite non-negative values work; they are normalised".
    counts = allocate(np.full(N_SKILLS, 1e308), STEP_BUDGET)
    assert int(counts.sum()) == STEP_BUDGET
    assert counts.max() - counts.min() <= 1


# -- budget and episode end -----------------------------------------------------------------
def test_budget_accounting_to_termination_with_a_short_last_step(make_env):
    env = make_env(timings=False, total_budget=80)
    raw = env.unwrapped
    obs, info = env.reset(seed=0)
    assert info["teacher/budget_left"] == 80
    seen = 0
    expected = [(32, 48), (32, 16), (16, 0)]
    for i, (spend, left) in enumerate(expected):
        obs, reward, terminated, truncated, info = env.step(np.linspace(1.0, 2.0, N_SKILLS))
        assert sum(info["teacher/requested"].values()) == spend
        assert info["teacher/generated"] == spend
        assert info["teacher/accepted"] + sum(info["teacher/rejected"].values()) == spend
        assert info["teacher/budget_left"] == left == raw.budget_left
        assert obs["budget_left"].tolist() == [left]
        seen += info["teacher/accepted"]
        assert obs["examples_seen"].sum() == seen
        assert env.observation_space.contains(obs)
        last = i == len(expected) - 1
        assert terminated is last
        assert truncated is False
        # The final score shows up on the last step, and only there.
        assert TEST_KEYS <= set(info) if last else not (TEST_KEYS & set(info))
    acc = info["student/test_accuracy"]
    assert list(acc) == list(raw.skill_names)
    assert all(0.0 <= v <= 1.0 for v in acc.values())
    assert info["student/test_macro_accuracy"] == pytest.approx(np.mean(list(acc.values())))
    assert info["student/test_accuracy"] == raw.test_metrics()["student/test_accuracy"]


def test_one_hot_action_spends_the_step_on_one_skill(env):
    raw = env.unwrapped
    env.reset(seed=0)
    i = raw.skill_names.index("add_carry")
    obs, _, _, _, info = env.step(_one_hot(i))
    assert info["teacher/requested"] == {"add_carry": STEP_BUDGET}
    assert {ex.skill for ex in raw.last_examples} == {"add_carry"}
    assert obs["examples_seen"][i] == info["teacher/accepted"] == obs["examples_seen"].sum()


def test_step_after_termination_needs_a_reset(env):
    raw = env.unwrapped
    env.reset(seed=0)
    terminated = False
    while not terminated:
        _, _, terminated, _, _ = env.step(np.ones(N_SKILLS))
    with pytest.raises(RuntimeError, match=re.escape("call env.reset() before env.step()")):
        env.step(np.ones(N_SKILLS))
    obs, info = env.reset(seed=1)
    assert raw.budget_left == TOTAL_BUDGET and raw.steps == 0
    assert obs["examples_seen"].sum() == 0
    assert info["teacher/budget_left"] == TOTAL_BUDGET


def test_step_before_reset_raises():
    env = SkillListEnv(timings=False, total_budget=96, step_budget=32,
                       student_options={"n_layer": 1, "n_embd": 32, "n_head": 2, "epochs": 1})
    with pytest.raises(RuntimeError, match=re.escape("The episode is over (or never began): call env.reset() before env.step().")):
        env.step(np.ones(N_SKILLS))


def test_step_before_reset_raises_through_gym_make(env):
    with pytest.raises(gym.error.ResetNeeded):
        env.step(np.ones(N_SKILLS))


def test_truncation_at_the_registered_step_limit_reports_the_test_score(make_env):
    env = make_env(timings=False)
    limit = gym.spec(datagym.DEFAULT_ENV_ID).max_episode_steps
    env.reset(seed=0)
    zero = np.zeros(N_SKILLS)
    for _ in range(limit - 1):
        _, _, terminated, truncated, info = env.step(zero)
        assert not (terminated or truncated)
        assert not (TEST_KEYS & set(info))
    _, _, terminated, truncated, info = env.step(zero)
    assert (terminated, truncated) == (False, True)
    assert TEST_KEYS <= set(info), "a truncated episode's last info must carry the test score"


# -- info -----------------------------------------------------------------------------------
def test_info_keys_are_prefixed_and_complete(make_env):
    env = make_env()  # timings on
    raw = env.unwrapped
    _, info = env.reset(seed=0)
    assert {"student/accuracy", "student/macro_accuracy", "teacher/budget_left", "time/evaluate"} <= set(info)
    infos = [info]
    terminated = False
    while not terminated:
        _, _, terminated, _, info = env.step(np.ones(N_SKILLS))
        assert STEP_INFO_KEYS <= set(info)
        infos.append(info)
    assert "time/test" in infos[-1]
    for info in infos:
        for key in info:
            assert key.split("/", 1)[0] in ("student", "teacher", "time"), key
            assert "/" in key, key
        assert list(info["student/accuracy"]) == list(raw.skill_names)
        assert info["student/macro_accuracy"] == pytest.approx(np.mean(list(info["student/accuracy"].values())))
        assert all(isinstance(v, float) and v >= 0 for k, v in info.items() if k.startswith("time/"))


def test_reward_is_the_change_in_macro_validation_accuracy(env):
    _, info = env.reset(seed=0)
    previous = info["student/macro_accuracy"]
    terminated = False
    while not terminated:
        _, reward, terminated, _, info = env.step(np.ones(N_SKILLS))
        assert reward == pytest.approx(info["student/macro_accuracy"] - previous)
        previous = info["student/macro_accuracy"]


# -- contamination guard --------------------------------------------------------------------
class ScriptedEngine(Engine):
    """Emits the same fixed examples (fresh copies) whatever the plan."""

    def __init__(self, examples: list[Example]) -> None:
        self.examples = examples

    def generate(self, plan: Plan, task, rng: np.random.Generator) -> list[Example]:
        return [Example.from_json(ex.to_json()) for ex in self.examples]


def test_examples_equal_to_a_test_question_are_dropped_counted_and_never_trained_on(fast_env_kwargs, monkeypatch):
    probe = SkillListEnv(**fast_env_kwargs)
    test_example = probe.task.heldout("test")["add_carry"][0]
    spaced = " ".join(test_example.question)  # whitespace does not hide a test question
    rng = np.random.default_rng(0)
    while True:
        clean = probe.task.generate("add_carry", rng)
        if not probe.task.is_test_question(clean.question):
            break
    scripted = [
        Example(test_example.question, test_example.answer, "add_carry"),
        Example(spaced, test_example.answer, "add_carry"),
        clean,
        Example("1+1", "3", "add_no_carry"),
        Example("1+", "2", "add_no_carry"),
    ]
    env = SkillListEnv(engine=ScriptedEngine(scripted), timings=False, **fast_env_kwargs)
    trained: list[str] = []
    original_train = env.student.train

    def spy(examples):
        trained.extend(ex.question for ex in examples)
        return original_train(examples)

    monkeypatch.setattr(env.student, "train", spy)
    env.reset(seed=0)
    obs, _, _, _, info = env.step(np.ones(N_SKILLS))
    assert info["teacher/rejected"] == {"test_contamination": 2, "unparseable": 1, "wrong_answer": 1}
    assert info["teacher/generated"] == 5
    assert info["teacher/accepted"] == 1
    assert trained == [clean.question]
    assert [ex.verdict for ex in env.last_examples] == [
        "test_contamination", "test_contamination", "accepted", "wrong_answer", "unparseable",
    ]
    assert obs["examples_seen"].sum() == 1
    assert obs["examples_seen"][env.skill_names.index("add_carry")] == 1


# -- render ---------------------------------------------------------------------------------
def test_render_ansi_returns_a_text_table(make_env):
    env = make_env(timings=False, render_mode="ansi")
    raw = env.unwrapped
    env.reset(seed=0)
    text = env.render()
    assert isinstance(text, str)
    assert text.splitlines()[0].startswith(f"step 0  budget left {TOTAL_BUDGET}")
    assert len(text.splitlines()) == 1 + N_SKILLS
    for name in raw.skill_names:
        assert name in text
    env.step(_one_hot(0))
    assert env.render().startswith(f"step 1  budget left {TOTAL_BUDGET - STEP_BUDGET}")


def test_render_without_a_mode_returns_none(env):
    env.reset(seed=0)
    assert env.render() is None
