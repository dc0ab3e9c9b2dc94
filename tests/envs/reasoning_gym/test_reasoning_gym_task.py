"""The ReasoningGym task: reasoning-gym's generators as skills, its verifiers as the oracle, its
curricula as difficulty, within what the default student reads."""

from __future__ import annotations

import json
import pickle

import gymnasium as gym
import numpy as np
import pytest

from datagym.envs.reasoning_gym import task as task_module
from datagym.envs.reasoning_gym.task import DEFAULT_DATASETS, ReasoningGymTask
from datagym.errors import ConfigError, OracleError
from datagym.task import ACCEPTED
from datagym.testing import check_task
from datagym.types import Example

from tests.conftest import FAST_STUDENT, assert_generated_examples_fit_the_default_student


@pytest.fixture(scope="module")
def task():
    return ReasoningGymTask(heldout_size=10)


def test_check_task_passes():
    report = check_task(ReasoningGymTask(heldout_size=10), require_difficulty=True)
    assert report["skills"] == len(DEFAULT_DATASETS)


def test_skills_are_the_datasets_and_families_their_categories(task):
    assert task.skill_names == DEFAULT_DATASETS
    tree = task.skill_tree
    assert tree.leaves_under("arithmetic") == ("basic_arithmetic", "chain_sum", "products", "count_bits")
    assert tree.leaves_under("algorithmic") == ("spell_backward", "letter_counting")
    assert task.describe()["datasets"] == list(DEFAULT_DATASETS)


def test_generation_is_deterministic(task):
    for skill in task.skill_names:
        a = [task.generate(skill, np.random.default_rng(7), d) for d in (0.0, 0.5, 1.0, None)]
        b = [task.generate(skill, np.random.default_rng(7), d) for d in (0.0, 0.5, 1.0, None)]
        assert [(e.question, e.answer) for e in a] == [(e.question, e.answer) for e in b]


def test_difficulty_picks_a_curriculum_level(task):
    rng = np.random.default_rng(1)
    levels = {skill: [lv.level for lv in task.levels(skill)] for skill in task.skill_names}
    # max_level 1 by default; letter_counting's level 1 writes texts longer than the student reads
    assert levels == {**{skill: [0, 1] for skill in task.skill_names}, "letter_counting": [0]}
    for skill in task.skill_names:
        assert task.generate(skill, rng, 0.0).provenance["level"] == 0
        assert task.generate(skill, rng, 1.0).provenance["level"] == levels[skill][-1]
    # the whole curriculum, as far as the student reads
    full = ReasoningGymTask(datasets=["chain_sum", "spell_backward"], max_level=None)
    assert [lv.level for lv in full.levels("chain_sum")] == [0, 1, 2, 3, 4]
    assert [lv.level for lv in full.levels("spell_backward")] == [0, 1, 2, 3, 4]
    hard = full.generate("chain_sum", np.random.default_rng(0), 1.0)
    assert hard.provenance["level"] == 4 and full.verify(hard) == ACCEPTED


def test_examples_fit_the_default_student(task):
    assert_generated_examples_fit_the_default_student(task, per_skill=200)


def test_the_verifier_is_reasoning_gyms(task):
    rng = np.random.default_rng(3)
    for skill in task.skill_names:
        ex = task.generate(skill, rng)
        assert task.verify(ex) == ACCEPTED
        assert task.label(ex.question) == ex.answer
        assert task.classify(ex.question) == skill
        wrong = ex.answer + "x" if skill == "spell_backward" else str(int(ex.answer) + 1)
        assert task.verify(Example(ex.question, wrong, skill)) == "wrong_answer", (skill, ex, wrong)


def test_a_question_no_generator_wrote_is_unparseable(task):
    question = "Calculate 2 + 2, please."  # no generator writes this
    assert task.classify(question) is None
    assert task.verify(Example(question, "4", "basic_arithmetic")) == "unparseable"
    with pytest.raises(OracleError, match="Expected a question one of the task's reasoning-gym generators wrote"):
        task.label(question)


def test_heldout_sets_are_fixed_and_disjoint():
    a, b = ReasoningGymTask(heldout_size=10), ReasoningGymTask(heldout_size=10)
    for split in ("validation", "test"):
        assert [[e.question for e in a.heldout(split)[s]] for s in a.skill_names] == [
            [e.question for e in b.heldout(split)[s]] for s in b.skill_names
        ]
    for skill in a.skill_names:
        assert not {e.question for e in a.heldout("validation")[skill]} & {e.question for e in a.heldout("test")[skill]}


def test_a_pickled_task_still_verifies_its_heldout_questions_in_a_fresh_process(task, monkeypatch):
    heldout = task.heldout("validation")
    data = pickle.dumps(task)
    monkeypatch.setattr(task_module, "_RECORDS", {})  # what a Ray worker starts with
    copy = pickle.loads(data)
    for skill, examples in heldout.items():
        assert all(copy.verify(ex) == ACCEPTED for ex in examples), skill
    # and it still generates, rebuilding its curricula
    ex = copy.generate("chain_sum", np.random.default_rng(0), 0.5)
    assert copy.verify(ex) == ACCEPTED


def test_a_question_one_task_object_wrote_is_labelled_by_another(task):
    # an agent's or an action space's copy of the task writes it; the env's task labels it
    other = ReasoningGymTask(datasets=["count_bits"], heldout_size=5)
    ex = other.generate("count_bits", np.random.default_rng(11), 0.0)
    assert task.label(ex.question) == ex.answer and task.classify(ex.question) == "count_bits"
    # but only for its own datasets
    elsewhere = ReasoningGymTask(datasets=["gcd"], heldout_size=5, max_chars=120)
    gcd = elsewhere.generate("gcd", np.random.default_rng(0), 0.0)
    assert task.verify(Example(gcd.question, gcd.answer, "count_bits")) == "unparseable"


@pytest.mark.parametrize(("options", "message"), [
    ({"datasets": ["chain_sum", "no_such_thing"]}, r"Unknown reasoning-gym dataset\(s\) \['no_such_thing'\]"),
    ({"datasets": "chain_sum"}, "Expected datasets to be a non-empty list of reasoning-gym dataset names, got 'chain_sum'"),
    ({"datasets": []}, "Expected datasets to be a non-empty list"),
    ({"datasets": ["lcm", "lcm"]}, r"Expected each dataset once, got \['lcm', 'lcm'\]"),
    ({"heldout_size": 0}, "Expected heldout_size to be a positive integer, got 0"),
    ({"max_chars": "110"}, "Expected max_chars to be a positive integer, got '110'"),
    ({"max_answer_chars": True}, "Expected max_answer_chars to be a positive integer, got True"),
    ({"max_level": -1}, "Expected max_level to be None or an integer of at least 0, got -1"),
])
def test_bad_options_are_refused(options, message):
    with pytest.raises(ConfigError, match=message):
        ReasoningGymTask(**options)


def test_a_dataset_too_long_for_the_student_is_refused_by_name():
    task = ReasoningGymTask(datasets=["word_sequence_reversal"])
    with pytest.raises(ConfigError, match="Expected reasoning-gym dataset 'word_sequence_reversal' to write"):
        task.levels("word_sequence_reversal")


def test_the_env_runs_a_step_at_every_level():
    for level in ("SkillList", "OpenEnded", "SkillTree"):
        env = gym.make(f"datagym/ReasoningGym-{level}-v0", total_budget=64, step_budget=32,
                       task_options={"heldout_size": 5},
                       student_options={**FAST_STUDENT, "max_new_tokens": 16, "reverse_digits": False})
        obs, _ = env.reset(seed=0)
        _, reward, _, _, info = env.step(env.action_space.sample() if level != "OpenEnded" else "[]")
        assert np.isfinite(reward)
        assert set(info["student/accuracy"]) == set(DEFAULT_DATASETS)
        env.close()


def test_written_questions_are_refused_and_generator_questions_kept():
    env = gym.make("datagym/ReasoningGym-OpenEnded-v0", total_budget=64, step_budget=32,
                   task_options={"heldout_size": 5},
                   student_options={**FAST_STUDENT, "max_new_tokens": 16, "reverse_digits": False})
    env.reset(seed=0)
    raw = env.unwrapped
    made = raw.task.generate("spell_backward", np.random.default_rng(9), 0.0)
    problems = [
        {"question": made.question},  # a generator's question without its answer: labelled
        {"question": "Spell this word backward (example: sun -> nus): zzzq"},  # written by hand: refused
    ]
    _, _, _, _, info = env.step(json.dumps(problems))
    by_question = {ex.question.strip(): ex for ex in raw.last_examples}
    assert by_question[made.question].answer == made.answer
    assert by_question[made.question].verdict == ACCEPTED
    assert info["teacher/rejected"] == {"unparseable": 1}
    env.close()
