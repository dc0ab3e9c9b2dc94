"""The Skill-Tree env: its tree, what expanding reveals and costs, node scores, how an
allocation turns into data, bad actions, and the guards it shares with every env."""

from __future__ import annotations

import copy
import doctest
import pickle
import re

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from datagym.engine import ProceduralEngine
from datagym.envs import skill_tree_env
from datagym.envs.arithmetic.task import ArithmeticTask
from datagym.envs.skill_tree_env import HIDDEN, SkillTreeEnv, band_of
from datagym.errors import ConfigError, InvalidActionError
from datagym.types import SkillTree

ENV_ID = "datagym/Arithmetic-SkillTree-v1"
FAMILIES = ("addition", "subtraction", "multiplication", "division", "comparison", "two_step")


@pytest.fixture
def kwargs(fast_env_kwargs):
    """The fast env options with 10 held-out questions per skill: evaluation is most of a step."""
    return {**fast_env_kwargs, "task_options": {"heldout_size": 10}}


@pytest.fixture
def env(kwargs):
    return SkillTreeEnv(timings=False, **kwargs)


def idx(env, *names):
    return [env.node_names.index(n) for n in names]


def act(env, expand=(), weights=None):
    """An action expanding the named nodes with the named weights ({name: weight})."""
    n = len(env.node_names)
    e = np.zeros(n, dtype=np.int8)
    e[idx(env, *expand)] = 1
    a = np.zeros(n, dtype=np.float32)
    for name, w in (weights or {}).items():
        a[env.node_names.index(name)] = w
    return {"expand": e, "allocation": a}


def names_where(env, mask):
    return [env.node_names[i] for i in np.flatnonzero(mask)]


def snapshot(env) -> dict:
    """Everything a refused action must leave as it was."""
    return {
        "visible": env.visible.copy(),
        "expanded": env.expanded.copy(),
        "node_examples": env.node_examples.copy(),
        "budget_left": env.budget_left,
        "steps": env.steps,
        "rng": copy.deepcopy(env.np_random.bit_generator.state),
        "accuracy": env.accuracy.copy(),
        "examples_seen": env.examples_seen.copy(),
        "weights": {k: v.detach().clone().numpy() for k, v in env.student.model.state_dict().items()},
        "student_seen": len(env.student._seen),
        "student_rng": copy.deepcopy(env.student._rng.bit_generator.state),
    }


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_equal(a[key], b[key], err_msg=key)


# -- the tree -------------------------------------------------------------------------------
def test_nodes_are_families_then_skills_then_bands_breadth_first(env):
    task = env.task
    skills = task.skill_names
    assert env.node_names[:6] == FAMILIES
    assert env.node_names[6:21] == skills
    bands = [f"{s}/{b}" for s in skills for b in ("easy", "medium", "hard")]
    assert env.node_names[21:] == tuple(bands)
    assert len(env.node_names) == 66
    assert env.node_parents[:6] == (-1,) * 6
    for i, name in enumerate(env.node_names):
        parent = env.node_parents[i]
        if 6 <= i < 21:
            assert env.node_names[parent] == task.skill_tree.nodes[name].family
        if i >= 21:
            assert env.node_names[parent] == name.split("/")[0]
        if parent >= 0:
            assert i in env.node_children[parent]
            assert env.parents[name] == env.node_names[parent]
    assert env.parents["addition"] is None
    assert [env.node_names[c] for c in env.node_children[0]] == ["add_no_carry", "add_carry", "add_3digit"]
    assert env.band_range("add_carry/easy") == (0.0, 1 / 3)
    assert env.band_range("add_carry/hard") == (2 / 3, 1.0)
    with pytest.raises(ValueError, match=re.escape("Expected a band node, got 'add_carry' (a skill).")):
        env.band_range("add_carry")


def test_band_of_slices_zero_to_one_equally():
    assert [band_of(d, 3) for d in (0.0, 0.3333, 1 / 3, 0.5, 0.6667, 1.0)] == [0, 0, 1, 1, 2, 2]
    assert band_of(None, 3) is None and band_of(float("nan"), 3) is None and band_of("x", 3) is None


def test_n_bands_option_changes_the_leaves(fast_env_kwargs):
    env = SkillTreeEnv(n_bands=2, **fast_env_kwargs)
    assert len(env.node_names) == 6 + 15 + 30
    assert env.node_names[21:23] == ("add_no_carry/easy", "add_no_carry/hard")
    assert env.action_space["allocation"].shape == (51,)
    env5 = SkillTreeEnv(n_bands=5, **fast_env_kwargs)
    assert env5.node_names[21] == "add_no_carry/band0" and env5.band_range(25) == (0.8, 1.0)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"n_bands": 0}, "Expected n_bands to be an integer from 1 to 10, got 0."),
        ({"n_bands": 2.5}, "Expected n_bands to be an integer from 1 to 10, got 2.5."),
        ({"expand_cost": -1}, "Expected expand_cost to be an integer from 0 to step_budget (32), got -1."),
        ({"expand_cost": 33}, "Expected expand_cost to be an integer from 0 to step_budget (32), got 33."),
        ({"expand_cost": True}, "Expected expand_cost to be an integer from 0 to step_budget (32), got True."),
    ],
)
def test_bad_options_are_refused(fast_env_kwargs, options, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        gym.make(ENV_ID, **fast_env_kwargs, **options)


def test_default_expand_cost_is_a_twelfth_of_the_step_budget(fast_env_kwargs):
    assert SkillTreeEnv(**fast_env_kwargs).expand_cost == 3
    assert SkillTreeEnv(student_options=fast_env_kwargs["student_options"]).expand_cost == 32
    assert SkillTreeEnv(expand_cost=0, **fast_env_kwargs).expand_cost == 0


# -- visibility and expansion ---------------------------------------------------------------
def test_only_the_families_are_visible_at_reset(env):
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert names_where(env, obs["visible"]) == list(FAMILIES)
    assert names_where(env, obs["expandable"]) == list(FAMILIES)
    assert not obs["expanded"].any() and not obs["examples_seen"].any()
    assert (obs["accuracy"][6:] == HIDDEN).all() and (obs["loss"][6:] == HIDDEN).all()
    assert (obs["accuracy"][:6] >= 0).all() and (obs["loss"][:6] >= 0).all()
    assert sorted(info["student/node_accuracy"]) == sorted(FAMILIES)
    assert obs["budget_left"][0] == 96


def test_expanding_reveals_exactly_the_children_and_charges_the_cost(kwargs):
    env = SkillTreeEnv(expand_cost=5, timings=False, **kwargs)
    obs, _ = env.reset(seed=0)
    before = set(names_where(env, obs["visible"]))
    obs, _, _, _, info = env.step(act(env, expand=["addition"]))
    assert set(names_where(env, obs["visible"])) - before == {"add_no_carry", "add_carry", "add_3digit"}
    assert names_where(env, obs["expanded"]) == ["addition"]
    assert "addition" not in names_where(env, obs["expandable"])
    assert info["teacher/expanded"] == ["addition"] and info["teacher/explore_cost"] == 5
    assert info["teacher/budget_left"] == 96 - 5 and obs["budget_left"][0] == 91
    assert info["teacher/generated"] == 0  # an all-zero allocation makes no data
    assert info["teacher/ignored_expansions"] == 0
    # the revealed skills show their accuracy
    assert (obs["accuracy"][idx(env, "add_no_carry", "add_carry", "add_3digit")] >= 0).all()

    obs, _, _, _, info = env.step(act(env, expand=["add_carry", "comparison"]))
    new = {"add_carry/easy", "add_carry/medium", "add_carry/hard", "compare_same_length", "compare_diff_length"}
    assert set(names_where(env, obs["visible"])) - before == {"add_no_carry", "add_carry", "add_3digit"} | new
    assert info["teacher/expanded"] == ["comparison", "add_carry"]  # node order
    assert info["teacher/explore_cost"] == 10 and obs["budget_left"][0] == 81


def test_expansions_the_step_cannot_afford_are_skipped_and_the_rest_is_data(kwargs):
    env = SkillTreeEnv(expand_cost=12, timings=False, **kwargs)
    env.reset(seed=0)
    weights = {name: 1.0 for name in FAMILIES}
    obs, _, _, _, info = env.step(act(env, expand=FAMILIES, weights=weights))
    assert info["teacher/expanded"] == ["addition", "subtraction"]  # 2 x 12 <= 32 < 3 x 12
    assert info["teacher/ignored_expansions_by_reason"] == {"unaffordable": 4}
    assert info["teacher/explore_cost"] == 24 and info["teacher/data_budget"] == 8
    assert info["teacher/generated"] == 8 and obs["budget_left"][0] == 96 - 32


def test_expansion_costs_alone_can_take_the_whole_step(kwargs):
    env = SkillTreeEnv(expand_cost=16, timings=False, **kwargs)
    env.reset(seed=0)
    _, _, _, _, info = env.step(act(env, expand=FAMILIES, weights={"addition": 1.0}))
    assert info["teacher/explore_cost"] == 32 and info["teacher/data_budget"] == 0
    assert info["teacher/generated"] == 0 and info["teacher/budget_left"] == 64
    assert np.isnan(info["student/train_loss"])  # nothing to train on


def test_ignored_expansions_and_weights_are_counted_not_refused(env):
    env.reset(seed=0)
    env.step(act(env, expand=["addition"]))
    action = act(
        env,
        # hidden (a skill of an unexpanded family, a band), already expanded, a leaf is hidden too
        expand=["mul_1digit", "add_carry/easy", "addition", "add_carry"],
        weights={"mul_1digit": 1.0, "add_carry/hard": 1.0, "subtraction": 2.0},
    )
    _, _, _, _, info = env.step(action)
    assert info["teacher/expanded"] == ["add_carry"]
    assert info["teacher/ignored_expansions_by_reason"] == {"hidden": 2, "already_expanded": 1}
    assert info["teacher/ignored_expansions"] == 3
    assert info["teacher/ignored_weight"] == pytest.approx(0.5)  # 2 of 4 units of weight
    assert info["teacher/ignored_nodes"] == 2
    assert set(info["teacher/requested"]) == {"sub_no_borrow", "sub_borrow", "sub_negative"}
    # now a band is visible: expanding it is a leaf expansion, ignored
    _, _, _, _, info = env.step(act(env, expand=["add_carry/easy"]))
    assert info["teacher/ignored_expansions_by_reason"] == {"leaf": 1} and info["teacher/explore_cost"] == 0


def test_weight_on_nodes_revealed_by_the_same_action_is_ignored(kwargs):
    env = SkillTreeEnv(expand_cost=0, timings=False, **kwargs)
    env.reset(seed=0)
    _, _, _, _, info = env.step(act(env, expand=["addition"], weights={"add_carry": 1.0}))
    assert info["teacher/expanded"] == ["addition"]
    assert info["teacher/ignored_weight"] == 1.0 and info["teacher/generated"] == 0
    _, _, _, _, info = env.step(act(env, weights={"add_carry": 1.0}))
    assert info["teacher/requested"] == {"add_carry": 32}


# -- node scores ----------------------------------------------------------------------------
def test_band_accuracy_is_read_from_the_validation_questions_in_that_band(fast_env_kwargs):
    env = SkillTreeEnv(expand_cost=0, timings=False, **fast_env_kwargs)
    validation = env.task.heldout("validation")
    gold = {ex.question: ex.answer for exs in validation.values() for ex in exs}
    # a student that answers exactly the easy add_carry questions and the hard mul_by_10 ones
    right = {ex.question for ex in validation["add_carry"] if ex.provenance["difficulty"] < 1 / 3}
    right |= {ex.question for ex in validation["mul_by_10"] if ex.provenance["difficulty"] >= 2 / 3}
    assert right  # the set is not empty, so the test can fail
    env.student.predict = lambda questions: [gold[q] if q in right else "?" for q in questions]
    env.reset(seed=0)
    env.step(act(env, expand=["addition", "multiplication"]))
    obs, _, _, _, _ = env.step(act(env, expand=["add_carry", "mul_by_10", "add_3digit"]))
    acc = dict(zip(env.node_names, obs["accuracy"].astype(float)))
    assert acc["add_carry/easy"] == 1.0 and acc["add_carry/medium"] == 0.0 and acc["add_carry/hard"] == 0.0
    assert acc["mul_by_10/easy"] == 0.0 and acc["mul_by_10/medium"] == 0.0 and acc["mul_by_10/hard"] == 1.0
    n_easy = sum(ex.provenance["difficulty"] < 1 / 3 for ex in validation["add_carry"])
    assert acc["add_carry"] == pytest.approx(n_easy / len(validation["add_carry"]))
    assert acc["add_3digit/easy"] == acc["add_3digit/hard"] == 0.0
    # a family is the macro over its skills, not the micro over their questions
    assert acc["addition"] == pytest.approx((acc["add_no_carry"] + acc["add_carry"] + acc["add_3digit"]) / 3)
    assert acc["subtraction"] == 0.0 and acc["sub_borrow"] == HIDDEN and acc["mul_1digit/easy"] == HIDDEN


def test_band_loss_is_the_mean_loss_of_its_questions(env):
    env.reset(seed=0)
    node_accuracy, node_loss = env.node_scores()
    records = [r for r in env.last_validation if r["skill"] == "div_exact"]
    for band, name in enumerate(("easy", "medium", "hard")):
        losses = [r["loss"] for r in records if band_of(r["difficulty"], 3) == band]
        assert node_loss[env.node_names.index(f"div_exact/{name}")] == pytest.approx(np.mean(losses), rel=1e-6)
    assert node_loss[env.node_names.index("div_exact")] == pytest.approx(np.mean([r["loss"] for r in records]), rel=1e-6)


# -- allocation -> data ---------------------------------------------------------------------
def test_weight_on_a_family_spreads_over_every_band_beneath_it(kwargs):
    env = SkillTreeEnv(expand_cost=0, timings=False, **kwargs)
    env.reset(seed=0)
    _, _, _, _, info = env.step(act(env, weights={"addition": 0.7}))
    examples = env.last_examples
    assert len(examples) == 32 and {ex.skill for ex in examples} == {"add_no_carry", "add_carry", "add_3digit"}
    per_band: dict = {}
    for ex in examples:
        key = (ex.skill, band_of(np.mean(ex.provenance["difficulty_range"]), 3))
        per_band[key] = per_band.get(key, 0) + 1
    assert len(per_band) == 9  # every band of every skill of the family
    assert max(per_band.values()) - min(per_band.values()) <= 1  # equal shares, largest remainder
    assert info["teacher/requested"] == {"add_no_carry": 12, "add_carry": 11, "add_3digit": 9}


def test_weight_on_a_band_makes_that_skill_within_the_band(kwargs):
    env = SkillTreeEnv(expand_cost=0, timings=False, **kwargs)
    env.reset(seed=0)
    env.step(act(env, expand=["addition"]))
    env.step(act(env, expand=["add_carry"]))
    obs, _, _, _, info = env.step(act(env, weights={"add_carry/hard": 1.0}))
    examples = env.last_examples
    assert len(examples) == 32 and all(ex.skill == "add_carry" for ex in examples)
    difficulties = [ex.provenance["difficulty"] for ex in examples]
    assert all(2 / 3 - 1e-4 <= d <= 1.0 for d in difficulties)  # the task rounds to 4 decimals
    assert np.ptp(difficulties) > 0.1  # drawn across the band, not pinned to one value
    accepted = info["teacher/accepted"]
    seen = dict(zip(env.node_names, obs["examples_seen"]))
    assert seen["add_carry/hard"] == seen["add_carry"] == seen["addition"] == accepted > 0
    assert seen["add_carry/easy"] == seen["add_no_carry"] == seen["subtraction"] == 0

    env.step(act(env, weights={"add_carry/easy": 1.0, "add_carry/medium": 1.0}))
    difficulties = [ex.provenance["difficulty"] for ex in env.last_examples]
    assert all(-1e-4 <= d <= 2 / 3 + 1e-4 for d in difficulties)
    assert min(difficulties) < 1 / 3 < max(difficulties)


def test_weights_are_relative_and_an_all_zero_allocation_spends_only_expansions(env):
    env.reset(seed=0)
    _, _, _, _, info_a = env.step(act(env, weights={"addition": 1.0, "division": 3.0}))
    env.reset(seed=0)
    _, _, _, _, info_b = env.step(act(env, weights={"addition": 1e30, "division": 3e30}))
    assert info_a["teacher/requested"] == info_b["teacher/requested"]
    assert sum(info_a["teacher/requested"].values()) == 32
    env.reset(seed=0)
    _, _, terminated, _, info = env.step(act(env))
    assert info["teacher/generated"] == 0 and info["teacher/budget_left"] == 96 and not terminated


# -- bad actions ----------------------------------------------------------------------------
def _bad_actions(n):
    ok_e, ok_a = np.zeros(n, np.int8), np.ones(n, np.float32)
    nan = ok_a.copy()
    nan[3] = np.nan
    neg = ok_a.copy()
    neg[0] = -0.5
    half = ok_e.astype(np.float64)
    half[2] = 0.5
    return [
        (np.ones(n), "Expected a dict action with keys ['allocation', 'expand'], got ndarray."),
        (None, "Expected a dict action with keys ['allocation', 'expand'], got NoneType."),
        ({"allocation": ok_a}, "Expected action keys ['allocation', 'expand'], got ['allocation']. Missing: ['expand']."),
        ({"allocation": ok_a, "expand": ok_e, "difficulty": 1},
         "Expected action keys ['allocation', 'expand'], got ['allocation', 'difficulty', 'expand']. Unexpected: ['difficulty']."),
        ({"allocation": ok_a[:3], "expand": ok_e},
         f"Expected action['allocation'] of shape ({n},), got (3,). Pass one non-negative weight per node: env.unwrapped.node_names."),
        ({"allocation": ok_a, "expand": np.zeros((2, n))},
         f"Expected action['expand'] of shape ({n},), got (2, {n}). Pass 0 or 1 per node: env.unwrapped.node_names."),
        ({"allocation": ["a"] * n, "expand": ok_e},
         f"Expected action['allocation'] to be numbers (bool, int or float) of shape ({n},), got list holding str: 'a'. Pass numbers, not text."),
        ({"allocation": [[1], [1, 2]], "expand": ok_e},
         f"Expected action['allocation'] to be numbers (bool, int or float) of shape ({n},), got list with ragged nesting"),
        ({"allocation": ok_a.astype(complex), "expand": ok_e}, "got dtype complex128."),
        ({"allocation": nan, "expand": ok_e}, "Expected finite weights in action['allocation'], got NaN or infinity for ['division']."),
        ({"allocation": neg, "expand": ok_e}, "Expected non-negative weights in action['allocation'], got negative ones: {'addition': -0.5}."),
        ({"allocation": ok_a, "expand": half}, "Expected action['expand'] to hold only 0 or 1, got {'multiplication': 0.5}."),
    ]


def test_bad_actions_raise_the_documented_error_and_change_nothing(kwargs):
    env = SkillTreeEnv(timings=False, **kwargs)
    env.reset(seed=0)
    env.step(act(env, expand=["addition"], weights={"division": 1.0}))
    cases = _bad_actions(len(env.node_names))
    assert len(cases) == 12
    for action, message in cases:
        before = snapshot(env)
        with pytest.raises(InvalidActionError, match=re.escape(message)):
            env.step(action)
        assert_same(before, snapshot(env))
    _, _, _, _, info = env.step(act(env, weights={"addition": 1.0}))  # and it still steps
    assert info["teacher/generated"] == 32


def test_a_refused_action_does_not_change_the_rest_of_the_episode(kwargs):
    first = SkillTreeEnv(timings=False, **kwargs)
    second = SkillTreeEnv(timings=False, **kwargs)
    first.reset(seed=4)
    second.reset(seed=4)
    with pytest.raises(InvalidActionError):
        first.step({"allocation": np.full(66, -1.0), "expand": np.zeros(66)})
    action = act(first, expand=["addition"], weights={"addition": 1.0, "comparison": 2.0})
    np.testing.assert_equal(first.step(action), second.step(action))


_arrays = hnp.arrays(
    dtype=st.one_of(
        hnp.boolean_dtypes(), hnp.integer_dtypes(), hnp.unsigned_integer_dtypes(), hnp.floating_dtypes(),
        hnp.complex_number_dtypes(), hnp.unicode_string_dtypes(), hnp.datetime64_dtypes(),
    ),
    shape=st.one_of(st.just((66,)), hnp.array_shapes(min_dims=0, max_dims=2, max_side=70)),
)
_values = st.one_of(
    _arrays,
    st.none(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=3),
    st.lists(st.one_of(st.floats(), st.integers(), st.none()), max_size=70),
    st.just(np.zeros(66)),
    st.just(np.ones(66, np.float32)),
)
_actions = st.one_of(
    _values,
    st.dictionaries(st.sampled_from(["allocation", "expand", "difficulty", 0]), _values, max_size=4),
    st.fixed_dictionaries({"allocation": _values, "expand": _values}),
)


@pytest.fixture(scope="module")
def tiny_env():
    env = SkillTreeEnv(
        timings=False,
        total_budget=96,
        step_budget=8,
        task_options={"heldout_size": 3},
        student_options={"n_layer": 1, "n_embd": 16, "n_head": 2, "epochs": 1, "batch_size": 8},
    )
    env.reset(seed=0)
    return env


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(action=_actions)
def test_any_action_either_steps_or_raises_the_documented_error_leaving_the_env_as_it_was(tiny_env, action):
    env = tiny_env
    if env._needs_reset:
        env.reset(seed=0)
    before = snapshot(env)
    try:
        obs, _, _, _, info = env.step(action)
    except InvalidActionError as exc:
        assert str(exc).startswith("Expected ")
        assert_same(before, snapshot(env))
        _, _, _, _, info = env.step(act(env, weights={"addition": 1.0}))  # it still steps
        assert info["teacher/generated"] > 0
    else:
        assert env.observation_space.contains(obs)
        assert env.budget_left == before["budget_left"] - info["teacher/explore_cost"] - info["teacher/generated"]


# -- guards every env keeps -----------------------------------------------------------------
class _LeakingEngine(ProceduralEngine):
    """Generates as usual, then swaps the first example for a copy of a test question."""

    def generate(self, plan, task, rng):
        out = super().generate(plan, task, rng)
        if out:
            leaked = copy.deepcopy(task.heldout("test")[out[0].skill][0])
            leaked.provenance = dict(out[0].provenance)
            out[0] = leaked
        return out


def test_the_contamination_guard_drops_test_questions(kwargs):
    env = SkillTreeEnv(engine=_LeakingEngine(), timings=False, expand_cost=0, **kwargs)
    env.reset(seed=0)
    obs, _, _, _, info = env.step(act(env, weights={"comparison": 1.0}))
    assert info["teacher/rejected"] == {"test_contamination": 1}
    assert info["teacher/generated"] == 32 and info["teacher/accepted"] == 31
    assert env.last_examples[0].verdict == "test_contamination"
    assert obs["examples_seen"][env.node_names.index("comparison")] == 31  # the dropped one is not counted
    assert env.examples_seen.sum() == 31


def test_same_seed_same_episode_and_pickle_mid_episode(kwargs):
    def rollout(env):
        env.reset(seed=3)
        trace = []
        for action in (
            act(env, expand=["addition", "two_step"], weights={"comparison": 1.0}),
            act(env, expand=["add_carry"], weights={"addition": 1.0, "mul_then_add": 0.5}),
            act(env, weights={"add_carry/easy": 1.0, "add_3digit": 0.2}),
        ):
            trace.append(env.step(action))
            trace.append([ex.question for ex in env.last_examples])
        return trace

    a, b = SkillTreeEnv(timings=False, **kwargs), SkillTreeEnv(timings=False, **kwargs)
    np.testing.assert_equal(rollout(a), rollout(b))
    a.reset(seed=1)
    a.step(act(a, expand=["addition"], weights={"addition": 1.0}))
    clone = pickle.loads(pickle.dumps(a))
    action = act(a, expand=["add_carry"], weights={"add_carry": 1.0})
    np.testing.assert_equal(clone.step(action), a.step(action))
    np.testing.assert_equal(clone.visible, a.visible)


def test_reset_forgets_the_tree_and_the_data(env):
    env.reset(seed=0)
    env.step(act(env, expand=["addition"], weights={"addition": 1.0}))
    obs, _ = env.reset(seed=0)
    assert names_where(env, obs["visible"]) == list(FAMILIES)
    assert not obs["expanded"].any() and not obs["examples_seen"].any()


def test_render_draws_the_visible_tree(kwargs):
    env = SkillTreeEnv(render_mode="ansi", timings=False, **kwargs)
    env.reset(seed=0)
    env.step(act(env, expand=["addition"], weights={"addition": 1.0}))
    text = env.render()
    assert "- addition" in text and "    add_carry" not in text and "  + add_carry" in text
    assert "+ subtraction" in text and "sub_borrow" not in text


class _FlatTask(ArithmeticTask):
    """Three skills straight under the root, and held-out questions that record no difficulty."""

    def __init__(self):
        super().__init__(heldout_size=4)
        skills = {name: self.skill_tree.nodes[name] for name in ("add_carry", "mul_by_10", "div_exact")}
        root = self.skill_tree.nodes["arithmetic"]
        self.skill_tree = SkillTree("arithmetic", {"arithmetic": tuple(skills)}, {"arithmetic": root, **skills})

    def _build_heldout(self):
        splits = super()._build_heldout()
        for exs in (*splits["validation"].values(), *splits["test"].values()):
            for ex in exs:
                ex.provenance.pop("difficulty", None)
        return splits


def test_any_task_tree_works_and_bands_without_difficulties_show_their_skill(monkeypatch, fast_env_kwargs):
    monkeypatch.setattr("datagym.teacher_env.make_task", lambda name, **kwargs: _FlatTask())
    env = SkillTreeEnv(timings=False, expand_cost=0, **fast_env_kwargs)
    assert env.node_names[:3] == ("add_carry", "mul_by_10", "div_exact") and len(env.node_names) == 12
    obs, _ = env.reset(seed=0)
    assert names_where(env, obs["visible"]) == ["add_carry", "mul_by_10", "div_exact"]
    obs, _, _, _, info = env.step(act(env, expand=["div_exact"], weights={"div_exact": 1.0}))
    assert info["teacher/requested"] == {"div_exact": 32}
    bands = idx(env, "div_exact/easy", "div_exact/medium", "div_exact/hard")
    skill = env.node_names.index("div_exact")
    assert (obs["accuracy"][bands] == obs["accuracy"][skill]).all()
    assert (obs["loss"][bands] == obs["loss"][skill]).all()


def test_the_docstring_example_runs():
    result = doctest.testmod(skill_tree_env, raise_on_error=False)
    assert result.attempted > 0 and result.failed == 0
