"""No silent UNK: the default student's vocabulary is built from the task it is taught."""

from __future__ import annotations

import re

import numpy as np
import pytest

from datagym.envs.arithmetic.task import ArithmeticTask
from datagym.envs.skill_list_env import SkillListEnv
from datagym.errors import ConfigError, OracleError, TaskCheckError
from datagym.students.char_tokenizer import DEFAULT_ALPHABET, UNK, CharTokenizer, alphabet_for
from datagym.students.transformer_student import TransformerStudent
from datagym.task import Task, heldout_from_generators
from datagym.testing import check_task
from datagym.types import Example, Skill, SkillTree

FAST = {"n_layer": 1, "n_embd": 16, "n_head": 2, "epochs": 1}
PATTERN = re.compile(r'(Copy|Shout):\n"([A-Za-z]+)"')


class QuotedTask(Task):
    """Copy or shout a quoted word: capitals, a colon, quotes, '!' and a newline, none of them in
    DEFAULT_ALPHABET; it keeps the default ``characters()``."""

    name = "quoted"
    version = 0

    def __init__(self, heldout_size: int = 6) -> None:
        super().__init__()
        self.heldout_size = heldout_size
        self.skill_tree = SkillTree.from_families("quoted", {"words": [Skill("copy"), Skill("shout")]})

    def generate(self, skill, rng, difficulty=None):
        d = float(rng.random()) if difficulty is None else float(difficulty)
        word = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), size=2 + int(round(3 * d)))).capitalize()
        question = f'{skill.capitalize()}:\n"{word}"'
        return Example(question, self.label(question), skill, {"source": "generator", "difficulty": d})

    def label(self, question):
        match = PATTERN.fullmatch(question)
        if match is None:
            raise OracleError(f"Expected 'Copy:\\n\"Word\"' or 'Shout:\\n\"Word\"', got {question!r}.")
        verb, word = match.groups()
        return word if verb == "Copy" else word.upper() + "!"

    def normalize_answer(self, answer):
        return answer.strip() or None

    def build_heldout(self):
        return heldout_from_generators(self, self.heldout_size)


@pytest.fixture
def quoted_env(monkeypatch):
    monkeypatch.setattr("datagym.teacher_env.make_task", lambda name, **kwargs: QuotedTask())

    def make(**overrides):
        return SkillListEnv(**{"total_budget": 64, "step_budget": 32, "student_options": FAST, "timings": False,
                               **overrides})

    return make


def test_the_vocabulary_is_the_default_alphabet_then_the_tasks_other_characters_by_code_point():
    student = TransformerStudent(**FAST)
    assert student.tokenizer.alphabet == DEFAULT_ALPHABET
    student.prepare(QuotedTask())
    extra = student.tokenizer.alphabet[len(DEFAULT_ALPHABET):]
    assert student.tokenizer.alphabet.startswith(DEFAULT_ALPHABET)
    assert extra == "".join(sorted(extra)) and {"\n", '"', ":", "!", "C", "S"} <= set(extra)
    assert student.unencodable('Shout:\n"Hello"HELLO!') == []
    assert student.unencodable("a\tb~") == ["\t", "~"]


def test_text_with_capitals_punctuation_and_newlines_round_trips():
    tokenizer = CharTokenizer(alphabet_for(QuotedTask().characters()))
    text = 'Shout:\n"Hello"'
    assert UNK not in tokenizer.encode(text)
    assert tokenizer.decode(tokenizer.encode(text)) == text
    assert CharTokenizer().decode(CharTokenizer().encode("up Hello:")) == "up ello"  # the old, silent loss
    assert CharTokenizer().unknown("up Hello:") == [":", "H"]


def test_arithmetic_keeps_exactly_the_default_vocabulary():
    task = ArithmeticTask(heldout_size=3)
    assert set(task.characters()) <= set(DEFAULT_ALPHABET)
    assert alphabet_for(task.characters()) == DEFAULT_ALPHABET
    student = TransformerStudent(**FAST)
    student.prepare(task)
    assert student.tokenizer.alphabet == DEFAULT_ALPHABET and student.tokenizer.vocab_size == 54


def test_an_env_of_a_task_with_capitals_and_punctuation_builds_and_trains(quoted_env):
    env = quoted_env()
    student = env.student
    questions = [ex.question + ex.answer for exs in env._validation.values() for ex in exs]
    assert student.unencodable("".join(questions)) == []
    env.reset(seed=0)
    assert student.model.get_input_embeddings().num_embeddings == student.tokenizer.vocab_size > 54
    _, _, _, _, info = env.step(np.ones(env.action_space.shape, dtype=np.float32))
    assert info["teacher/accepted"] == 32 and np.isfinite(info["student/train_loss"])
    losses = student.loss([ex for exs in env._validation.values() for ex in exs])
    assert all(np.isfinite(losses))


def test_a_fixed_alphabet_that_lacks_the_tasks_characters_fails_the_env_naming_them(quoted_env):
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "Expected the student's alphabet to contain every character of task 'quoted', but it cannot encode "
            "'\\n', '!', '\"', ':', 'A', "
        )
        + r".*'Z' \(they would all read as UNK.*Add them to student_options\['alphabet'\], or leave alphabet unset",
    ):
        quoted_env(student_options={**FAST, "alphabet": DEFAULT_ALPHABET})


def test_a_fixed_alphabet_that_covers_the_task_is_used_as_it_is(quoted_env):
    alphabet = "=" + "".join(sorted(set(QuotedTask().characters()) - {"="}))
    env = quoted_env(student_options={**FAST, "alphabet": alphabet})
    assert env.student.tokenizer.alphabet == alphabet


@pytest.mark.parametrize(
    "alphabet, message",
    [(5, "Expected student alphabet to be a string of characters"), ("abc", "containing '='"),
     ("a=a", "without repeated characters")],
)
def test_a_bad_alphabet_option_is_refused(alphabet, message):
    with pytest.raises(ConfigError, match=message):
        TransformerStudent(**FAST, alphabet=alphabet)


def test_the_state_carries_the_vocabulary_to_a_student_that_was_never_prepared():
    task = QuotedTask()
    student = TransformerStudent(**FAST)
    student.prepare(task)
    student.reset(0)
    student.train([task.generate("shout", np.random.default_rng(i)) for i in range(16)])
    state = student.state_dict()
    assert state["alphabet"] == student.tokenizer.alphabet

    resumed = TransformerStudent(**FAST)
    resumed.load_state_dict(state)
    assert resumed.tokenizer.alphabet == student.tokenizer.alphabet
    questions = [ex.question for ex in task.heldout("validation")["shout"]]
    assert resumed.predict(questions) == student.predict(questions)


def test_a_state_saved_before_the_vocabulary_was_recorded_loads_with_the_default_one():
    student = TransformerStudent(**FAST)
    student.reset(0)
    state = student.state_dict()
    del state["alphabet"]
    del state["config"]["alphabet"]
    resumed = TransformerStudent(**FAST)
    resumed.prepare(QuotedTask())  # a resumed state's vocabulary wins: its weights were made for it
    resumed.load_state_dict(state)
    assert resumed.tokenizer.alphabet == DEFAULT_ALPHABET
    assert resumed.predict(["1+1"]) == student.predict(["1+1"])


def test_a_vocabulary_that_changes_after_reset_drops_the_weights():
    student = TransformerStudent(**FAST)
    student.reset(0)
    student.prepare(ArithmeticTask(heldout_size=2))  # the same vocabulary: the weights stay
    assert student.model is not None
    student.prepare(QuotedTask())
    with pytest.raises(RuntimeError, match=r"call reset\(seed\) first"):
        student.predict(["Copy:\n\"Ab\""])


def test_check_task_passes_with_the_default_student_and_fails_with_a_fixed_alphabet_that_lacks_characters():
    report = check_task(QuotedTask())
    assert report["student"] == "TransformerStudent" and "vocabulary" in report["checks"]
    with pytest.raises(TaskCheckError, match=r"check 'vocabulary' failed(.|\n)*cannot encode '\\n', '!'") as info:
        check_task(QuotedTask(), TransformerStudent(**FAST, alphabet=DEFAULT_ALPHABET))
    assert info.value.check == "vocabulary"
