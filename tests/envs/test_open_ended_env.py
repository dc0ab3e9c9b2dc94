"""The Open-Ended env: its spaces and observation schema, how it reads (and refuses to be broken
by) text actions, the oracle's labels, wrong answers, the budget, the contamination guard, and
determinism."""

from __future__ import annotations

import json
import operator
import re
import string

import numpy as np
import pytest
from gymnasium import spaces
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datagym.envs.open_ended_env import (
    ACTION_CHARSET,
    MAX_FIELD_CHARS,
    OBSERVATION_CHARSET,
    UNCLASSIFIED,
    OpenEndedEnv,
    ProblemText,
)
from datagym.errors import ConfigError, InvalidActionError
from datagym.task import ACCEPTED

ENV_ID = "datagym/Arithmetic-OpenEnded-v1"
STEP_BUDGET = 32  # fast_env_kwargs
TOTAL_BUDGET = 96
SMALL_HELDOUT = {"heldout_size": 10}  # for tests of many steps: quicker evaluation
TEACHER_KEYS = {
    "teacher/requested", "teacher/generated", "teacher/accepted", "teacher/rejected", "teacher/budget_left",
    "teacher/problems", "teacher/malformed", "teacher/dropped", "teacher/labelled", "teacher/corrected",
    "teacher/json_from",
}


@pytest.fixture
def env(make_env):
    return make_env(ENV_ID, timings=False)


def _trained(env, monkeypatch) -> list:
    """A list that fills with every example the student trains on."""
    trained: list = []
    student = env.unwrapped.student
    original = student.train

    def spy(examples):
        trained.extend(examples)
        return original(examples)

    monkeypatch.setattr(student, "train", spy)
    return trained


def _clean_questions(task, skill: str, n: int, seed: int = 0) -> list:
    """``n`` generator examples of ``skill`` that are not test questions."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        example = task.generate(skill, rng)
        if not task.is_test_question(example.question):
            out.append(example)
    return out


# -- spaces and observation ------------------------------------------------------------------
def test_spaces_are_text_with_the_documented_charsets(env):
    raw = env.unwrapped
    assert raw.level == "open_ended"
    assert isinstance(env.observation_space, spaces.Text)
    assert set(env.observation_space.character_set) == set(string.printable[:95])  # printable ASCII
    assert isinstance(env.action_space, ProblemText) and isinstance(env.action_space, spaces.Text)
    assert env.action_space.min_length == 0
    assert env.action_space.max_length == 65536
    for ch in "\n\t×÷−“”‘’…–—é" + string.printable[:95]:
        assert ch in env.action_space.character_set, repr(ch)
    assert "\x00" not in env.action_space.character_set
    assert env.action_space.contains('[{"question": "3 × 4 − 2"}]\n')
    assert set(ACTION_CHARSET) >= set(OBSERVATION_CHARSET)


def test_observation_schema(make_env):
    env = make_env(ENV_ID, timings=False, max_errors=20)
    raw = env.unwrapped
    obs, _ = env.reset(seed=0)
    assert obs in env.observation_space
    state = json.loads(obs)
    assert list(state) == ["budget_left", "step_budget", "max_problems", "total_budget", "errors_total", "skills", "errors"]
    assert (state["budget_left"], state["step_budget"], state["max_problems"], state["total_budget"]) == (
        TOTAL_BUDGET, STEP_BUDGET, STEP_BUDGET, TOTAL_BUDGET,
    )
    assert list(state["skills"]) == list(raw.skill_names)
    validation = raw.task.heldout("validation")
    for i, (name, entry) in enumerate(state["skills"].items()):
        assert set(entry) == {"errors", "total", "accuracy", "loss", "seen"}
        assert entry["total"] == len(validation[name])
        assert entry["accuracy"] == pytest.approx(1 - entry["errors"] / entry["total"], abs=1e-4)
        assert entry["accuracy"] == round(float(raw.accuracy[i]), 4)
        assert 0 <= entry["loss"] <= 100 and entry["seen"] == 0
    assert state["errors_total"] == sum(e["errors"] for e in state["skills"].values())
    assert len(state["errors"]) == min(20, state["errors_total"])
    order = list(raw.skill_names)
    assert [order.index(e["skill"]) for e in state["errors"]] == sorted(order.index(e["skill"]) for e in state["errors"])
    for error in state["errors"]:
        assert set(error) == {"skill", "question", "student_answer", "gold_answer"}
        gold = {ex.question: ex.answer for ex in validation[error["skill"]]}
        assert gold[error["question"]] == error["gold_answer"]  # a validation question of its skill
        assert not raw.task.is_correct(error["student_answer"], error["gold_answer"])  # really wrong


def test_observation_after_a_step_counts_seen_examples_and_budget(env):
    raw = env.unwrapped
    env.reset(seed=1)
    problems = [{"question": ex.question} for ex in _clean_questions(raw.task, "mul_by_10", 5)]
    obs, _, _, _, info = env.step(json.dumps(problems))
    assert obs in env.observation_space
    state = json.loads(obs)
    assert state["budget_left"] == TOTAL_BUDGET - 5 == info["teacher/budget_left"]
    assert state["skills"]["mul_by_10"]["seen"] == 5
    assert sum(e["seen"] for e in state["skills"].values()) == 5


def test_error_sample_is_capped_seeded_and_optional(make_env):
    shown = []
    for seed in (0, 0, 1):
        env = make_env(ENV_ID, timings=False, max_errors=7)
        obs, _ = env.reset(seed=seed)
        shown.append([e["question"] for e in json.loads(obs)["errors"]])
    assert len(shown[0]) == 7
    assert shown[0] == shown[1]
    assert shown[0] != shown[2]
    none = make_env(ENV_ID, timings=False, max_errors=0)
    obs, _ = none.reset(seed=0)
    assert json.loads(obs)["errors"] == [] and json.loads(obs)["errors_total"] > 0


def test_max_errors_does_not_change_the_data_or_the_student(make_env):
    # The error sample has its own generator: showing more errors changes nothing else.
    results = []
    for max_errors in (0, 50):
        env = make_env(ENV_ID, timings=False, max_errors=max_errors)
        env.reset(seed=2)
        env.action_space.seed(5)
        _, reward, _, _, info = env.step(env.action_space.sample())
        results.append((reward, info))
    np.testing.assert_equal(results[0], results[1])


def test_observation_fields_are_cut_and_stay_inside_the_space(make_env):
    env = make_env(ENV_ID, timings=False, max_errors=3)
    raw = env.unwrapped
    env.reset(seed=0)
    for record in raw.last_validation:
        record["prediction"] = "\u2603\x00\"" * 400  # 1200 characters that all escape
        record["correct"] = False
    obs = raw._observation()
    assert obs in env.observation_space
    for error in json.loads(obs)["errors"]:
        assert len(json.dumps(error["student_answer"], ensure_ascii=True)) <= MAX_FIELD_CHARS + 2
        assert error["student_answer"].startswith("\u2603\x00\"")


@pytest.mark.parametrize(
    "options, message",
    [
        ({"max_errors": -1}, "Expected max_errors to be an integer in [0, 4096], got -1."),
        ({"max_errors": True}, "Expected max_errors to be an integer in [0, 4096], got True."),
        ({"wrong_answers": "ignore"}, "Expected wrong_answers to be one of ['correct', 'reject'], got 'ignore'."),
    ],
)
def test_bad_options_are_refused(fast_env_kwargs, options, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        OpenEndedEnv(task="arithmetic", **fast_env_kwargs, **options)


# -- reading problems ------------------------------------------------------------------------
def test_valid_problems_are_labelled_trained_on_and_counted(env, monkeypatch):
    raw = env.unwrapped
    trained = _trained(env, monkeypatch)
    env.reset(seed=0)
    examples = _clean_questions(raw.task, "add_carry", 3) + _clean_questions(raw.task, "mod_1digit", 2)
    problems = [{"question": ex.question, "answer": ex.answer} for ex in examples[:3]]
    problems += [{"question": ex.question} for ex in examples[3:]]
    _, _, terminated, truncated, info = env.step(json.dumps(problems))
    assert TEACHER_KEYS <= set(info)
    assert info["teacher/problems"] == info["teacher/generated"] == info["teacher/accepted"] == 5
    assert info["teacher/labelled"] == 2 and info["teacher/corrected"] == 0
    assert info["teacher/malformed"] == {} and info["teacher/dropped"] == {} and info["teacher/rejected"] == {}
    assert info["teacher/requested"] == {"add_carry": 3, "mod_1digit": 2}
    assert info["teacher/budget_left"] == TOTAL_BUDGET - 5
    assert info["teacher/json_from"] == "text"
    assert [(ex.question, ex.answer) for ex in trained] == [(ex.question, ex.answer) for ex in examples]
    assert [ex.skill for ex in raw.last_examples] == ["add_carry"] * 3 + ["mod_1digit"] * 2
    assert all(ex.verdict == ACCEPTED for ex in raw.last_examples)
    assert raw.examples_seen[raw.skill_names.index("add_carry")] == 3
    assert not terminated and not truncated


@pytest.mark.parametrize(
    "text, source",
    [
        ('{"problems": [{"question": "27+58", "answer": "85"}, {"question": "64-29"}]}', "text"),
        ('["27+58", "64-29"]', "text"),
        ('Sure! Here they are:\n```json\n[{"question": "27+58"}, {"question": "64-29"}]\n```\nGood luck.', "fence"),
        ('```\n{"problems": ["27+58", {"question": "64-29", "answer": 35}]}\n```', "fence"),
        ('Here are two problems: [{"question": "27+58"}, {"question": "64-29"}] -- enjoy', "embedded"),
        ('  [{"question": " 27+58 ", "answer": " 85 ", "skill": "ignored", "why": "extra fields are fine"},'
         ' {"question": "64-29", "answer": 35.0}]  ', "text"),
    ],
    ids=["problems-object", "bare-strings", "json-fence", "plain-fence", "after-prose", "whitespace-extras-numbers"],
)
def test_the_forms_an_llm_writes_are_all_read(env, text, source):
    env.reset(seed=0)
    _, _, _, _, info = env.step(text)
    assert info["teacher/json_from"] == source
    assert info["teacher/malformed"] == {}
    assert [(ex.question, ex.answer, ex.verdict) for ex in env.unwrapped.last_examples] == [
        ("27+58", "85", ACCEPTED), ("64-29", "35", ACCEPTED),
    ]


def test_questions_are_trained_in_the_task_format_and_the_written_text_is_kept(env, monkeypatch):
    # spaces and the signs people type (x, division sign, minus sign) would otherwise train the
    # student on text unlike every held-out question, or be rejected as unparseable
    trained = _trained(env, monkeypatch)
    env.reset(seed=0)
    written = ["27 + 58", "13 \u00d7 7", "84 \u00f7 4", "64 \u2212 29", "(2+3) \u22c5 4", "12 ? 9"]
    _, _, _, _, info = env.step(json.dumps([{"question": q} for q in written[:-1]] + [
        {"question": written[-1], "answer": ">"}]))
    assert info["teacher/accepted"] == 6 and info["teacher/rejected"] == {}
    assert [(ex.question, ex.answer) for ex in trained] == [
        ("27+58", "85"), ("13*7", "91"), ("84/4", "21"), ("64-29", "35"), ("(2+3)*4", "20"), ("12?9", ">"),
    ]
    assert [ex.skill for ex in trained[:4]] == ["add_carry", "mul_1digit", "div_exact", "sub_borrow"]
    assert [ex.provenance["agent_question"] for ex in env.unwrapped.last_examples] == written
    env.step('[{"question": "13*7"}]')
    assert "agent_question" not in env.unwrapped.last_examples[0].provenance  # only kept when it changed


def test_an_answer_with_a_typographic_minus_is_the_same_answer(env):
    env.reset(seed=0)
    _, _, _, _, info = env.step('[{"question": "12-19", "answer": "\u22127"}]')
    assert info["teacher/accepted"] == 1 and info["teacher/corrected"] == 0
    assert env.unwrapped.last_examples[0].provenance["answer_from"] == "agent"


def test_a_single_problem_object_is_read(env):
    env.reset(seed=0)
    _, _, _, _, info = env.step('{"question": "13*7"}')
    assert info["teacher/accepted"] == 1
    assert env.unwrapped.last_examples[0].answer == "91"


def test_wrong_answers_are_corrected_by_default_and_never_trained_on(env, monkeypatch):
    raw = env.unwrapped
    trained = _trained(env, monkeypatch)
    env.reset(seed=0)
    good, bad = _clean_questions(raw.task, "sub_borrow", 2)
    action = json.dumps([
        {"question": good.question, "answer": good.answer},
        {"question": bad.question, "answer": str(int(bad.answer) + 1)},
        {"question": "9?12", "answer": ">"},
        {"question": "9?13", "answer": "-0x"},
    ])
    _, _, _, _, info = env.step(action)
    assert info["teacher/corrected"] == 3 and info["teacher/accepted"] == 4 and info["teacher/rejected"] == {}
    for ex in raw.last_examples:
        assert ex.verdict == ACCEPTED and ex.answer == raw.task.label(ex.question)
    assert [ex.provenance["answer_from"] for ex in raw.last_examples] == ["agent"] + ["oracle_corrected"] * 3
    assert raw.last_examples[1].provenance["agent_answer"] == str(int(bad.answer) + 1)
    assert [(ex.question, ex.answer) for ex in trained] == [(ex.question, raw.task.label(ex.question)) for ex in trained]
    assert len(trained) == 4


def test_wrong_answers_are_rejected_when_asked_and_never_trained_on(make_env, monkeypatch):
    env = make_env(ENV_ID, timings=False, wrong_answers="reject")
    raw = env.unwrapped
    trained = _trained(env, monkeypatch)
    env.reset(seed=0)
    good, bad = _clean_questions(raw.task, "sub_borrow", 2)
    action = json.dumps([
        {"question": good.question, "answer": " " + good.answer},  # right, written loosely
        {"question": bad.question, "answer": str(int(bad.answer) + 1)},
        {"question": "9?12", "answer": ">"},
        {"question": "7*8"},
    ])
    _, _, _, _, info = env.step(action)
    assert info["teacher/rejected"] == {"wrong_answer": 2}
    assert info["teacher/corrected"] == 0 and info["teacher/labelled"] == 1 and info["teacher/accepted"] == 2
    assert info["teacher/budget_left"] == TOTAL_BUDGET - 4  # rejected problems are charged
    assert [ex.verdict for ex in raw.last_examples] == [ACCEPTED, "wrong_answer", "wrong_answer", ACCEPTED]
    assert [(ex.question, ex.answer) for ex in trained] == [(good.question, good.answer), ("7*8", "56")]


def test_questions_the_oracle_cannot_label_are_rejected_and_charged(env, monkeypatch):
    raw = env.unwrapped
    trained = _trained(env, monkeypatch)
    env.reset(seed=0)
    questions = ["12+", "hello", "5/0", "7/2", "3 x 4", "1" * 13 + "+1", "(1+2"]
    _, _, _, _, info = env.step(json.dumps([{"question": q, "answer": "1"} for q in questions] + ["2+2"]))
    assert info["teacher/rejected"] == {"unparseable": len(questions)}
    assert info["teacher/accepted"] == 1 and [ex.question for ex in trained] == ["2+2"]
    assert info["teacher/budget_left"] == TOTAL_BUDGET - len(questions) - 1
    assert {ex.skill for ex in raw.last_examples[:-1]} == {UNCLASSIFIED}
    assert info["teacher/requested"] == {UNCLASSIFIED: len(questions), "add_no_carry": 1}


def test_problems_over_the_step_budget_are_dropped_and_counted(env, monkeypatch):
    raw = env.unwrapped
    trained = _trained(env, monkeypatch)
    env.reset(seed=0)
    examples = _clean_questions(raw.task, "add_no_carry", STEP_BUDGET + 5)
    problems = [{"question": ex.question} for ex in examples] + [{"oops": 1}]
    _, _, _, _, info = env.step(json.dumps(problems))
    assert info["teacher/problems"] == STEP_BUDGET + 5
    assert info["teacher/dropped"] == {"over_budget": 5}
    assert info["teacher/malformed"] == {"missing_question": 1}
    assert info["teacher/generated"] == STEP_BUDGET == len(trained)
    assert [ex.question for ex in trained] == [ex.question for ex in examples[:STEP_BUDGET]]
    assert info["teacher/budget_left"] == TOTAL_BUDGET - STEP_BUDGET


def test_the_last_step_takes_only_the_budget_left_and_terminates(make_env):
    env = make_env(ENV_ID, timings=False, total_budget=40, step_budget=32)
    raw = env.unwrapped
    env.reset(seed=0)
    problems = json.dumps([{"question": ex.question} for ex in _clean_questions(raw.task, "mul_1digit", 32)])
    obs, _, terminated, _, info = env.step(problems)
    assert not terminated and json.loads(obs)["max_problems"] == 8
    obs, _, terminated, _, info = env.step(problems)
    assert info["teacher/generated"] == 8 and info["teacher/dropped"] == {"over_budget": 24}
    assert terminated and info["teacher/budget_left"] == 0
    assert "student/test_macro_accuracy" in info
    assert json.loads(obs)["max_problems"] == 0


def test_a_test_question_is_dropped_and_counted_and_never_trained_on(env, monkeypatch):
    raw = env.unwrapped
    trained = _trained(env, monkeypatch)
    env.reset(seed=0)
    test_example = raw.task.heldout("test")["add_carry"][0]
    spaced = " ".join(test_example.question)  # whitespace does not hide a test question
    clean = _clean_questions(raw.task, "add_carry", 1)[0]
    action = json.dumps([
        {"question": test_example.question, "answer": test_example.answer},
        {"question": spaced},
        {"question": clean.question},
    ])
    _, _, _, _, info = env.step(action)
    assert info["teacher/rejected"] == {"test_contamination": 2}
    assert info["teacher/accepted"] == 1 and [ex.question for ex in trained] == [clean.question]
    assert [ex.verdict for ex in raw.last_examples] == ["test_contamination", "test_contamination", ACCEPTED]
    assert info["teacher/budget_left"] == TOTAL_BUDGET - 3


# -- malformed text --------------------------------------------------------------------------
MALFORMED = [
    ("empty", "", {"empty": 1}),
    ("blank", " \n\t ", {"empty": 1}),
    ("prose", "I think the student should practise carrying.", {"not_json": 1}),
    ("binary", "\x00\x01\x02\xff\ufffd[{", {"not_json": 1}),
    ("number", "42", {"not_a_problem_list": 1}),
    ("null", "null", {"not_a_problem_list": 1}),
    ("other-object", '{"items": ["1+1"]}', {"not_a_problem_list": 1}),
    ("problems-not-list", '{"problems": "1+1"}', {"not_a_problem_list": 1}),
    ("deeply-nested", "[" * 60_000, {"not_json": 1}),
    ("deep-but-valid", "[" * 500 + "]" * 500, {"problem_not_object": 1}),
    ("huge-int", "[" + "9" * 5000 + "]", {"not_json": 1}),
    ("too-long", '["1+1", ' + " " * 70_000 + "]", {"text_too_long": 1}),
    (
        "bad-items",
        json.dumps([
            1, None, [], {"q": "1+1"}, {"question": 5}, {"question": "   "}, {"question": "1+1", "answer": [2]},
            {"question": "1+1", "answer": True}, {"question": "1\x00+1"}, {"question": "1+1" * 400},
            {"question": "1+1", "answer": "2" * 300},
        ]),
        {
            "problem_not_object": 3, "missing_question": 1, "question_not_text": 1, "empty_question": 1,
            "answer_not_text": 3, "question_not_printable": 1, "question_too_long": 1,
        },
    ),
]


@pytest.mark.parametrize("case", MALFORMED, ids=[case[0] for case in MALFORMED])
def test_malformed_text_is_counted_and_trains_nothing(env, case):
    _, text, reasons = case
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(text)
    assert info["teacher/malformed"] == reasons
    assert info["teacher/generated"] == 0 and info["teacher/accepted"] == 0
    assert info["teacher/budget_left"] == TOTAL_BUDGET  # nothing taken, nothing charged
    assert np.isnan(info["student/train_loss"]) and reward == 0.0
    assert obs in env.observation_space and not terminated and not truncated


def test_malformed_problems_are_skipped_and_the_rest_used(env):
    env.reset(seed=0)
    _, _, _, _, info = env.step('[{"question": 7}, "2+3", {"question": "4*5", "answer": {"x": 1}}, {"question": "9-4", "answer": "5"}]')
    assert info["teacher/malformed"] == {"question_not_text": 1, "answer_not_text": 1}
    assert [(ex.question, ex.answer) for ex in env.unwrapped.last_examples] == [("2+3", "5"), ("9-4", "5")]


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.sampled_from(["question", "answer", "problems", "x"]) | st.text(max_size=5), inner, max_size=4),
    max_leaves=25,
)
_problem = st.fixed_dictionaries(
    {"question": st.one_of(st.text(max_size=40), st.from_regex(r"\(?[0-9]{1,4}[-+*/%?][0-9]{1,3}\)?", fullmatch=True))},
    optional={"answer": st.one_of(st.none(), st.integers(-10**6, 10**6), st.text(max_size=10), st.floats())},
)
_texts = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=ACTION_CHARSET, max_size=300),
    st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
    _json_values.map(json.dumps),
    st.lists(_problem, max_size=12).map(json.dumps),
    st.lists(_problem, max_size=12).map(lambda ps: "Here:\n```json\n" + json.dumps(ps, indent=2) + "\n```"),
    st.lists(_problem, max_size=12).map(lambda ps: json.dumps({"problems": ps})[: len(json.dumps({"problems": ps})) // 2]),
    st.tuples(st.sampled_from(["[", "{", '"', "x", "```"]), st.integers(1, 80_000)).map(lambda t: t[0] * t[1]),
)


@pytest.fixture(scope="module")
def long_env():
    """One env for many hypothesis examples: a budget that never runs out, no step limit, and
    small held-out sets (steps evaluate quickly)."""
    fast_student = {"n_layer": 1, "n_embd": 32, "n_head": 2, "epochs": 1, "batch_size": 16}  # conftest's
    env = OpenEndedEnv(
        task="arithmetic", task_options={"heldout_size": 10}, timings=False, total_budget=10**6, step_budget=16,
        student_options=fast_student,
    )
    env.reset(seed=0)
    return env


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=_texts)
def test_any_text_gives_the_documented_behaviour_and_the_env_goes_on(long_env, text):
    raw = long_env
    budget = raw.budget_left
    obs, reward, terminated, truncated, info = raw.step(text)
    assert obs in raw.observation_space
    assert np.isfinite(reward) and not terminated and not truncated
    taken = info["teacher/generated"]
    assert taken == len(raw.last_examples) <= 16
    assert info["teacher/budget_left"] == budget - taken  # charged for exactly what was taken
    assert info["teacher/accepted"] + sum(info["teacher/rejected"].values()) == taken
    assert info["teacher/problems"] == taken + sum(info["teacher/dropped"].values())
    assert set(info["teacher/rejected"]) <= {"unparseable", "wrong_answer", "test_contamination"}
    assert set(info["teacher/dropped"]) <= {"over_budget"}
    for example in raw.last_examples:
        if example.verdict == ACCEPTED:  # whatever came in, nothing is trained on with a wrong label
            assert example.answer == raw.task.label(example.question)
    if info["teacher/json_from"] is None:
        assert taken == 0 and sum(info["teacher/malformed"].values()) == 1
    # The env still works: a plain action is taken as usual.
    _, _, _, _, after = raw.step('["1+1"]')
    assert after["teacher/accepted"] == 1 and after["teacher/budget_left"] == budget - taken - 1


# -- actions that are not text ---------------------------------------------------------------
def _state(raw: OpenEndedEnv) -> dict:
    return {
        "budget_left": raw.budget_left,
        "steps": raw.steps,
        "examples_seen": raw.examples_seen.copy(),
        "accuracy": raw.accuracy.copy(),
        "rng": raw.np_random.bit_generator.state,
        "observation_rng": raw._observation_rng.bit_generator.state,
        "last_examples": list(raw.last_examples),
        "report": raw._report,
    }


@pytest.mark.parametrize(
    "action, shown",
    [(None, "NoneType: None"), (5, "int: 5"), (b'["1+1"]', "bytes: b'[\"1+1\"]'"), (["1+1"], "list: ['1+1']"),
     ({"question": "1+1"}, "dict: {'question': '1+1'}"), (np.array(["1+1"]), "ndarray: array(['1+1'], dtype='<U3')")],
    ids=["none", "int", "bytes", "list", "dict", "ndarray"],
)
def test_an_action_that_is_not_text_raises_and_changes_nothing(make_env, action, shown):
    env = make_env(ENV_ID, timings=False, task_options=SMALL_HELDOUT)
    raw = env.unwrapped
    env.reset(seed=4)
    env.step('["3+4"]')
    before = _state(raw)
    message = (
        "Expected action to be a str holding JSON problems, e.g. '[{\"question\": \"27+58\", \"answer\": \"85\"}]', "
        f"got {shown}. Write problems with json.dumps(...)."
    )
    with pytest.raises(InvalidActionError, match=re.escape(message)) as excinfo:
        env.step(action)
    assert isinstance(excinfo.value, ValueError)
    np.testing.assert_equal(_state(raw), before)

    # Exactly as if the bad action had never been sent.
    result = env.step('["12*3", "40-17"]')
    reference = make_env(ENV_ID, timings=False, task_options=SMALL_HELDOUT)
    reference.reset(seed=4)
    reference.step('["3+4"]')
    np.testing.assert_equal(result, reference.step('["12*3", "40-17"]'))


def test_a_numpy_string_is_text(env):
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.str_('["1+1"]'))
    assert info["teacher/accepted"] == 1


# -- the oracle's labels ---------------------------------------------------------------------
_OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul}


def _expressions():
    """(text, value) of random expressions; value is Python's own arithmetic (None: no answer)."""
    leaf = st.integers(0, 999).map(lambda n: (str(n), n))

    def combine(children):
        def build(args):
            (a, va), op, (b, vb), paren = args
            text = f"({a}{op}{b})" if paren else f"{a}{op}{b}"
            if va is None or vb is None:
                return text, None
            if op in _OPS:
                value = _OPS[op](va, vb)
            elif op == "/":
                value = va // vb if vb != 0 and va % vb == 0 else None
            else:
                value = va % vb if vb > 0 else None
            return text, value

        # Parenthesise every operand that is itself an operation, so Python's precedence and the
        # text's agree; the top level may stay bare.
        wrapped = children.map(lambda c: (f"({c[0]})", c[1]) if not c[0].isdigit() else c)
        return st.tuples(wrapped, st.sampled_from("+-*/%"), wrapped, st.booleans()).map(build)

    return st.recursive(leaf, combine, max_leaves=5)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_expressions(), min_size=1, max_size=12), st.integers(0, 2))
def test_the_oracle_labels_agent_questions_as_python_computes_them(long_env, expressions, mode):
    # The env's reading and verification, without the (slow, here irrelevant) training.
    raw = long_env
    problems = []
    for text, value in expressions:
        if mode == 0 or value is None:
            problems.append({"question": text})
        else:  # a right answer (mode 1) or a wrong one (mode 2), which the env corrects
            problems.append({"question": text, "answer": str(value + (mode == 2))})
    examples = raw._plan_from_action(json.dumps(problems)).examples
    raw._verify(examples)
    assert len(examples) == len(expressions)
    for example, (text, value) in zip(examples, expressions):
        assert example.question == text
        if value is None:
            assert example.verdict == "unparseable"
        elif example.verdict != "test_contamination":
            assert (example.verdict, example.answer) == (ACCEPTED, str(value))


@pytest.mark.parametrize("a, b", [(3, 12), (12, 3), (77, 77), (100, 99)])
def test_the_oracle_labels_comparisons_as_python_computes_them(env, a, b):
    env.reset(seed=0)
    env.step(json.dumps([f"{a}?{b}"]))
    expected = "<" if a < b else ">" if a > b else "="
    assert env.unwrapped.last_examples[0].answer == expected


# -- random actions, determinism -------------------------------------------------------------
def test_action_space_sample_is_a_usable_action_that_exercises_every_path(make_env):
    env = make_env(ENV_ID, timings=False, total_budget=160)
    env.reset(seed=0)
    env.action_space.seed(3)
    totals = {"labelled": 0, "corrected": 0, "unparseable": 0}
    for _ in range(5):
        sample = env.action_space.sample()
        assert env.action_space.contains(sample)
        _, _, _, _, info = env.step(sample)
        assert info["teacher/malformed"] == {} and info["teacher/accepted"] > 0
        totals["labelled"] += info["teacher/labelled"]
        totals["corrected"] += info["teacher/corrected"]
        totals["unparseable"] += info["teacher/rejected"].get("unparseable", 0)
    assert min(totals.values()) > 0
    env.action_space.seed(3)
    masked = env.action_space.sample(mask=(5, None))  # Text's own character-level sampling
    assert len(masked) == 5


def test_random_text_rollouts_are_deterministic_and_truncate_at_the_step_limit(make_env):
    noise = spaces.Text(2000, min_length=0, charset=ACTION_CHARSET, seed=1)
    texts = [noise.sample() for _ in range(25)]
    traces = []
    for _ in range(2):
        env = make_env(ENV_ID, timings=False, task_options=SMALL_HELDOUT)
        trace = [env.reset(seed=9)]
        for text in texts:
            trace.append(env.step(text))
            if trace[-1][2] or trace[-1][3]:
                break
        traces.append(trace)
    np.testing.assert_equal(traces[0], traces[1])
    assert len(traces[0]) == 21  # reset + 20 steps: nothing was taken, so the step limit ended it
    _, _, terminated, truncated, info = traces[0][-1]
    assert truncated and not terminated and info["teacher/budget_left"] == TOTAL_BUDGET
    assert "student/test_macro_accuracy" in info
