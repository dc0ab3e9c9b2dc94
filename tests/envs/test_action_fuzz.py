"""Malformed actions, thousands of them, on every registered env: each raises exactly
InvalidActionError with a short message, and the env then steps exactly like a fresh one.
Below the fuzz, the cases it once found, pinned on both vector levels so that they agree."""

from __future__ import annotations

import copy
import re
from decimal import Decimal
from fractions import Fraction

import gymnasium as gym
import numpy as np
import pytest
import torch

import datagym
from datagym.action_validation import MAX_MESSAGE_LENGTH, short_repr
from datagym.errors import InvalidActionError

#: small settings: validation comes before any training, so invalid steps cost microseconds
FAST = {
    "total_budget": 32,
    "step_budget": 16,
    "task_options": {"heldout_size": 5},
    "student_options": {"n_layer": 1, "n_embd": 16, "n_head": 2, "epochs": 1},
    "timings": False,
}
SKILL_LIST = "datagym/Arithmetic-SkillList-v1"
SKILL_TREE = "datagym/Arithmetic-SkillTree-v1"
#: every registered env, and the Skill-List env with its dict action
FUZZED = [(env_id, {}) for env_id in datagym.env_ids()] + [(SKILL_LIST, {"difficulty_control": True})]
FUZZED_IDS = [env_id.split("/")[-1] + ("-difficulty" if extra else "") for env_id, extra in FUZZED]
ACTIONS_PER_ENV = 2500
SEED = 7


# -- malformed values -------------------------------------------------------------------------
class Opaque:
    """An object that is nothing numeric."""


class BrokenRepr:
    def __repr__(self):
        raise RuntimeError("no repr")


class FloatLike:
    """Has __float__, but is not one of the real-number types an action may hold."""

    def __float__(self):
        return 0.5


class ArrayLike:
    """Offers itself to numpy (like torch, jax, pandas), but is not an ndarray."""

    def __init__(self, n):
        self.n = n

    def __array__(self, dtype=None, copy=None):
        return np.ones(self.n, dtype=dtype)


def pick(rng: np.random.Generator, options: list):
    return options[int(rng.integers(len(options)))]


def _deep(value, depth):
    for _ in range(depth):
        value = [value]
    return value


def bad_numbers(rng: np.random.Generator, n: int, kind: str):
    """Something of length n that holds no valid entries of any vector: text, bytes, complex,
    dates, objects, tensors... (``kind`` picks which)."""
    good = list(rng.random(n))
    i = int(rng.integers(n))
    if kind == "str":
        return pick(rng, ["0.5", "abc", "", "1e3", "x" * 100_000])
    if kind == "str_list":
        return [str(x) for x in good] if rng.random() < 0.5 else good[:i] + ["0.5"] + good[i + 1:]
    if kind == "np_str":
        return np.array([str(x) for x in good]) if rng.random() < 0.5 else [np.str_("1")] * n
    if kind == "bytes":
        return pick(rng, [b"0.5", b"", b"\x00" * 1000, bytearray(b"1"), [b"1"] * n, np.array([b"1"] * n)])
    if kind == "complex":
        return pick(rng, [[complex(x, 1) for x in good], np.ones(n, np.complex64), np.ones(n, np.complex128), 1j])
    if kind == "datetime64":
        return np.ones(n, "datetime64[D]") if rng.random() < 0.5 else [np.datetime64("2024-01-01")] * n
    if kind == "timedelta64":
        return pick(rng, [np.ones(n, "timedelta64[s]"), good[:i] + [np.timedelta64(1, "s")] + good[i + 1:]])
    if kind == "object_array":
        return np.array(good, dtype=object)
    if kind == "structured":
        return np.zeros(n, dtype=[("a", "f4"), ("b", "i4")])
    if kind == "huge_int":
        return good[:i] + [10 ** int(rng.integers(309, 5000))] + good[i + 1:]
    if kind == "torch":
        choice = int(rng.integers(4))
        if choice == 0:
            return torch.ones(n, requires_grad=True)
        if choice == 1:
            return torch.ones(n, dtype=torch.float64)
        if choice == 2:
            return [torch.tensor(0.5)] * n
        return torch.zeros(n, dtype=torch.int64)
    if kind == "none":
        return None if rng.random() < 0.5 else good[:i] + [None] + good[i + 1:]
    if kind == "dict":
        return {} if rng.random() < 0.3 else {str(k): v for k, v in enumerate(good)}
    if kind == "object":
        things = [Opaque(), BrokenRepr(), FloatLike(), ArrayLike(n), Fraction(1, 2), Decimal("0.5"), {0.5},
                  frozenset(), range(n), (x for x in good), memoryview(b"abc"), len]
        thing = things[int(rng.integers(len(things)))]
        return thing if rng.random() < 0.5 else good[:i] + [thing] + good[i + 1:]
    if kind == "nested":
        return _deep(good, int(rng.integers(33, 200)))
    if kind == "ragged":
        return pick(rng, [[[1.0], [1.0, 2.0]], [1.0, [2.0]] * (n // 2), [np.ones(2), np.ones(3)], [good, good[:-1]]])
    raise AssertionError(kind)


NUMBER_KINDS = ["str", "str_list", "np_str", "bytes", "complex", "datetime64", "timedelta64", "object_array",
                "structured", "huge_int", "torch", "none", "dict", "object", "nested", "ragged"]


def bad_vector(rng: np.random.Generator, n: int, entry: str):
    """A malformed value where an array of n entries belongs. ``entry`` is what an entry must be:
    ``"weight"`` (finite, >= 0), ``"difficulty"`` (in [0, 1]) or ``"binary"`` (0 or 1)."""
    kinds = ["shape", "nan", "inf", "out_of_range", "huge_float128", "numbers"]
    kind = rng.choice(kinds, p=[0.2, 0.1, 0.1, 0.15, 0.05, 0.4])
    dtype = pick(rng, [np.float16, np.float32, np.float64, np.longdouble])
    if kind == "shape":
        shapes = [(int(rng.integers(0, 3 * n + 2)),), (1, n), (n, 1), (), (2, n), (0,)]
        shape = shapes[int(rng.integers(len(shapes)))]
        if shape == (n,):
            shape = (n + 1,)
        value = np.zeros(shape, dtype=dtype)
        return value.tolist() if rng.random() < 0.3 else value
    if kind in ("nan", "inf", "out_of_range", "huge_float128"):
        value = np.zeros(n, dtype=dtype)
        where = rng.random(n) < rng.random()
        where[int(rng.integers(n))] = True
        if kind == "nan":
            value[where] = np.nan
        elif kind == "inf":
            value[where] = pick(rng, [np.inf, -np.inf])
        elif kind == "huge_float128":
            value = np.zeros(n, dtype=np.longdouble)
            value[where] = np.longdouble("1e400") * pick(rng, [1, -1])  # beyond float64: inf there
        else:
            bad = {
                "weight": [-1e-30, -0.5, -1e300],
                "difficulty": [-0.01, 1.0001, 2.0, -1e300],
                "binary": [0.5, 2.0, -1.0, 1e-9],
            }
            value = value.astype(np.float64)
            value[where] = pick(rng, bad[entry])
        return list(value) if rng.random() < 0.3 else value
    return bad_numbers(rng, n, NUMBER_KINDS[int(rng.integers(len(NUMBER_KINDS)))])


def bad_key(rng: np.random.Generator):
    keys = ["x", "x" * 100_000, "Weights", " weights", "", 1, 0.5, None, (1, 2), b"weights", frozenset({1}),
            10**400, 10**5000, True, Opaque()]
    return keys[int(rng.integers(len(keys)))]


def bad_dict_action(rng: np.random.Generator, good: dict, vectors: dict):
    """A malformed dict action: not a dict, keys missing or extra, or one value malformed.
    ``vectors`` maps each key to (length, what an entry must be)."""
    kind = rng.choice(["not_a_dict", "missing", "extra", "many_extra", "value"], p=[0.15, 0.1, 0.15, 0.05, 0.55])
    if kind == "not_a_dict":
        key = next(iter(vectors))
        return pick(rng, [None, "text", list(good.items()), tuple(good), 1.0, bad_vector(rng, *vectors[key])])
    action = dict(good)
    if kind == "missing":
        for key in rng.permutation(list(good))[: int(rng.integers(1, len(good) + 1))]:
            del action[key]
    elif kind == "extra":
        action[bad_key(rng)] = 1.0
        if rng.random() < 0.3:
            del action[next(iter(good))]
    elif kind == "many_extra":
        action.update({k: 0 for k in range(int(rng.integers(2, 2000)))})
    else:
        key = list(vectors)[int(rng.integers(len(vectors)))]
        action[key] = bad_vector(rng, *vectors[key])
    return action


def malformed(rng: np.random.Generator, env: gym.Env, good):
    raw = env.unwrapped
    if raw.level == "open_ended":
        while True:  # any str is an action (malformed problems are skipped): only non-str is invalid
            if rng.random() < 0.8:
                value = bad_vector(rng, 4, "weight")
            else:
                value = bad_dict_action(rng, {"a": 1}, {"a": (4, "weight")})
            if not isinstance(value, str):
                return value
    if raw.level == "skill_tree":
        n = len(raw.node_names)
        return bad_dict_action(rng, good, {"allocation": (n, "weight"), "expand": (n, "binary")})
    n = len(raw.skill_names)
    if raw.difficulty_control:
        return bad_dict_action(rng, good, {"weights": (n, "weight"), "difficulty": (n, "difficulty")})
    if rng.random() < 0.9:
        return bad_vector(rng, n, "weight")
    return bad_dict_action(rng, {"weights": good}, {"weights": (n, "weight")})


# -- the fuzz -------------------------------------------------------------------------------
@pytest.mark.parametrize("env_id, extra", FUZZED, ids=FUZZED_IDS)
def test_malformed_actions_raise_invalid_action_error_and_change_nothing(env_id, extra, math_task_options):
    options = {**FAST, **extra}
    if env_id.startswith("datagym/HumanEval-"):  # HumanEval's held-out sets are its fixed split
        options.pop("task_options")
    if math_task_options(env_id) is not None:  # the math envs read a file
        options["task_options"] = math_task_options(env_id)
    env = gym.make(env_id, **options)
    fresh = gym.make(env_id, **options)
    try:
        env.reset(seed=SEED)
        env.action_space.seed(SEED)
        good = env.action_space.sample()
        rng = np.random.default_rng([SEED, FUZZED.index((env_id, extra))])
        failures = []
        for _ in range(ACTIONS_PER_ENV):
            action = malformed(rng, env, good)
            try:
                env.step(action)
            except InvalidActionError as error:
                message = str(error)
                if type(error) is not InvalidActionError or len(message) > MAX_MESSAGE_LENGTH:
                    failures.append((short_repr(action), type(error).__name__, len(message), message[:200]))
            except Exception as error:  # noqa: BLE001 (the point: nothing else may escape)
                failures.append((short_repr(action), type(error).__name__, str(error)[:200]))
            else:
                failures.append((short_repr(action), "accepted"))
        assert not failures, f"{len(failures)} of {ACTIONS_PER_ENV} malformed actions misbehaved: {failures[:5]}"

        # Exactly as if none of them had been sent.
        fresh.reset(seed=SEED)
        result = env.step(copy.deepcopy(good))
        reference = fresh.step(copy.deepcopy(good))
        np.testing.assert_equal(result[0], reference[0])
        assert result[1] == reference[1]
        np.testing.assert_equal(result, reference)
    finally:
        env.close()
        fresh.close()


# -- the cases the fuzz found, pinned on both levels ------------------------------------------
@pytest.fixture(scope="module")
def envs():
    """One reset env per action layout (never stepped successfully: every action here is refused)."""
    made = {
        "skill_list": gym.make(SKILL_LIST, **FAST),
        "difficulty": gym.make(SKILL_LIST, **FAST, difficulty_control=True),
        "skill_tree": gym.make(SKILL_TREE, **FAST),
        "open_ended": gym.make("datagym/Arithmetic-OpenEnded-v1", **FAST),
    }
    for env in made.values():
        env.reset(seed=0)
    yield made
    for env in made.values():
        env.close()


#: (env, slot label, length, hint after the type message, how to put a value into the slot)
SLOTS = [
    ("skill_list", "action", 15, "Pass one weight per skill: env.unwrapped.skill_names.", lambda v: v),
    ("difficulty", "action['weights']", 15, "Pass one weight per skill: env.unwrapped.skill_names.",
     lambda v: {"weights": v, "difficulty": np.zeros(15)}),
    ("difficulty", "action['difficulty']", 15, "Pass one difficulty in [0, 1] per skill: env.unwrapped.skill_names.",
     lambda v: {"weights": np.ones(15), "difficulty": v}),
    ("skill_tree", "action['allocation']", 66, "Pass one non-negative weight per node: env.unwrapped.node_names.",
     lambda v: {"expand": np.zeros(66, np.int8), "allocation": v}),
    ("skill_tree", "action['expand']", 66, "Pass 0 or 1 per node: env.unwrapped.node_names.",
     lambda v: {"expand": v, "allocation": np.ones(66, np.float32)}),
]
SLOT_IDS = [f"{env}:{label}" for env, label, *_ in SLOTS]

TEXT = "Pass numbers, not text."
TORCH = "Convert a torch tensor with .detach().cpu().numpy()."
#: (case, value of length n, what the message says came in, the fix; None: the slot's hint)
CASES = [
    ("int_too_large", lambda n: [10**400] * n, "list holding int too large for a float (100000000000000000000...)", None),
    ("torch_requires_grad", lambda n: torch.ones(n, requires_grad=True), "torch.Tensor: tensor([1., 1., 1., 1., 1., 1...", TORCH),
    ("numeric_strings", lambda n: ["0.5"] * n, "list holding str: '0.5'", TEXT),
    ("complex_list", lambda n: [1j] * n, "list holding complex: 1j", None),
    ("complex_array", lambda n: np.ones(n, complex), "dtype complex128", None),
    ("bytes", lambda n: b"0.5", "bytes: b'0.5'", TEXT),
    ("bytes_list", lambda n: [b"1"] * n, "list holding bytes: b'1'", TEXT),
    ("datetime64", lambda n: np.ones(n, "datetime64[D]"), "dtype datetime64[D]", None),
    ("timedelta64", lambda n: np.ones(n, "timedelta64[s]"), "dtype timedelta64[s]", None),
    ("object_array", lambda n: np.ones(n, object), "dtype object", None),
    ("none", lambda n: None, "NoneType: None", None),
    ("dict", lambda n: {"a": 1}, "dict: {'a': 1}", None),
    ("ragged", lambda n: [[1.0], [1.0, 2.0]], "list with ragged nesting (items of different lengths)", None),
]
CASE_IDS = [case[0] for case in CASES]


@pytest.mark.parametrize("case", CASE_IDS)
@pytest.mark.parametrize("slot", SLOT_IDS)
def test_both_levels_refuse_what_is_not_a_real_number_alike(envs, slot, case):
    env_key, label, n, hint, put = SLOTS[SLOT_IDS.index(slot)]
    _, make, shown, fix = CASES[CASE_IDS.index(case)]
    message = f"Expected {label} to be numbers (bool, int or float) of shape ({n},), got {shown}. {fix or hint}"
    with pytest.raises(InvalidActionError, match=re.escape(message) + "$"):
        envs[env_key].step(put(make(n)))


@pytest.mark.parametrize("slot", SLOT_IDS)
def test_a_python_int_past_the_float_range_is_refused_but_a_big_one_is_a_weight(envs, slot):
    env_key, label, n, hint, put = SLOTS[SLOT_IDS.index(slot)]
    with pytest.raises(InvalidActionError, match=re.escape("int too large for a float")):
        envs[env_key].step(put([1] * (n - 1) + [10**400]))
    # 10**20 is past int64 but a fine float: it reaches the range checks (a weight may be huge)
    if label in ("action", "action['weights']", "action['allocation']"):
        raw = envs[env_key].unwrapped
        plan = raw._plan_from_action(put([10**20] * n))
        assert plan.size == min(raw.config.step_budget, raw.budget_left)
        raw._pending = None


@pytest.mark.parametrize("key", ["x" * 100_000, 10**5000, b"weights", None], ids=["long_str", "huge_int", "bytes", "none"])
@pytest.mark.parametrize("env_key, good", [
    ("difficulty", {"weights": np.ones(15), "difficulty": np.zeros(15)}),
    ("skill_tree", {"expand": np.zeros(66, np.int8), "allocation": np.ones(66)}),
], ids=["difficulty", "skill_tree"])
def test_an_extra_key_of_any_size_or_type_gives_a_short_message(envs, env_key, good, key):
    expected = sorted(good)
    with pytest.raises(InvalidActionError, match=re.escape(f"Expected action keys {expected}, got [")) as excinfo:
        envs[env_key].step({**good, key: 1.0})
    message = str(excinfo.value)
    assert len(message) <= MAX_MESSAGE_LENGTH
    assert f"Unexpected: [{short_repr(key, 20)}]." in message
    assert ("Dict keys must be str." in message) == (not isinstance(key, str))


@pytest.mark.parametrize("env_key, shown", [
    ("skill_list", "Expected action to be numbers (bool, int or float) of shape (15,), got NoneType: None."),
    ("difficulty", "Expected a dict action with keys ['difficulty', 'weights'] (the env has difficulty_control=True), got NoneType."),
    ("skill_tree", "Expected a dict action with keys ['allocation', 'expand'], got NoneType."),
    ("open_ended", "Expected action to be a str holding JSON problems, e.g. '[{\"question\": \"27+58\", \"answer\": \"85\"}]', got NoneType: None."),
])
def test_none_is_named_as_none_type_by_every_level(envs, env_key, shown):
    with pytest.raises(InvalidActionError, match=re.escape(shown)):
        envs[env_key].step(None)


@pytest.mark.parametrize("action, shown", [
    (b"x" * 100_000, "bytes: b'xxxxxxxx"),
    (torch.ones(3, requires_grad=True), "torch.Tensor: tensor("),
    (["x" * 100_000], "list: ['xxxxxxxx"),
], ids=["huge_bytes", "torch", "list_of_huge_str"])
def test_the_open_ended_env_names_the_type_of_a_non_text_action_briefly(envs, action, shown):
    with pytest.raises(InvalidActionError, match=re.escape(f"got {shown}")) as excinfo:
        envs["open_ended"].step(action)
    assert len(str(excinfo.value)) <= MAX_MESSAGE_LENGTH


def test_every_bad_entry_list_is_short_however_many_entries_are_bad(envs):
    cases = [
        ("skill_list", np.full(15, np.nan), "Expected finite weights, got NaN or infinity for ['add_no_carry', "),
        ("skill_list", -np.ones(15), "Expected non-negative weights, got negative ones: {'add_no_carry': -1.0, "),
        ("difficulty", {"weights": np.ones(15), "difficulty": np.full(15, 2.0)}, "Expected difficulties in [0, 1], got {"),
        ("skill_tree", {"expand": np.full(66, 0.5), "allocation": np.ones(66)}, "Expected action['expand'] to hold only 0 or 1, got {"),
        ("skill_tree", {"expand": np.zeros(66), "allocation": np.full(66, -np.inf)}, "Expected finite weights in action['allocation']"),
    ]
    for env_key, action, start in cases:
        with pytest.raises(InvalidActionError, match=re.escape(start)) as excinfo:
            envs[env_key].step(action)
        message = str(excinfo.value)
        assert len(message) <= MAX_MESSAGE_LENGTH and "more)" in message, message


@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.uint8, np.int64, np.uint64, np.float16, np.float32,
                                   np.float64, np.longdouble])
def test_every_real_numpy_dtype_is_a_weight(envs, dtype):
    raw = envs["skill_list"].unwrapped
    np.testing.assert_array_equal(raw._weights(np.ones(15, dtype), "action"), np.ones(15))
    tree = envs["skill_tree"].unwrapped
    tree._plan_from_action({"expand": np.zeros(66, dtype), "allocation": np.ones(66, dtype)})
    tree._pending = None


def test_every_valid_form_of_an_action_makes_the_plan_a_float64_array_makes(envs):
    """Lists, tuples, float32, ints, bools and huge finite weights read exactly as the same
    float64 values do (committed trajectories depend on it)."""
    raw = envs["skill_list"].unwrapped
    weights = np.linspace(0.0, 1.0, 15)
    reference = raw._plan_from_action(weights)
    for form in (list(weights), tuple(weights), [float(w) for w in weights]):
        assert raw._plan_from_action(form) == reference
    as_float32 = weights.astype(np.float32)
    assert raw._plan_from_action(as_float32) == raw._plan_from_action(as_float32.astype(np.float64))
    assert raw._plan_from_action(list(range(15))) == raw._plan_from_action(np.arange(15.0))
    assert raw._plan_from_action(weights > 0.5) == raw._plan_from_action((weights > 0.5).astype(np.float64))
    assert raw._plan_from_action([1e308] * 15) == raw._plan_from_action(np.ones(15))  # normalised by the max first
    assert raw._plan_from_action([10**300] * 15) == raw._plan_from_action(np.ones(15))
    assert raw._plan_from_action(np.zeros(15)).size == 0
    tree = envs["skill_tree"].unwrapped
    expand = np.zeros(66, np.int8)
    expand[[0, 2]] = 1
    allocation = np.linspace(0.0, 1.0, 66)
    plans = []
    for e, a in [(expand, allocation), (expand.astype(bool), list(allocation)), (list(map(int, expand)), tuple(allocation)),
                 (expand.astype(np.float32), allocation * 1e300)]:
        plans.append((tree._plan_from_action({"expand": e, "allocation": a}), tree._pending))
        tree._pending = None
    assert all(plan == plans[0] for plan in plans[1:])
