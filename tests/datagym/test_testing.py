"""check_task: a task that keeps the contract passes; each broken rule is named and explained."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest

from datagym.envs.arithmetic.task import ArithmeticTask
from datagym.errors import ConfigError, DatagymError, OracleError, TaskCheckError
from datagym.task import Task, heldout_from_generators
from datagym.testing import TaskCheckWarning, check_task
from datagym.types import Example, Skill, SkillTree


class EchoTask(Task):
    """The smallest task that keeps the contract: 'echo N' -> 'N', two skills."""

    name = "echo"
    version = 0

    def __init__(self, heldout_size: int = 5) -> None:
        super().__init__()
        self.heldout_size = heldout_size
        self.skill_tree = SkillTree.from_families("echo", {"digits": [Skill("short"), Skill("long")]})

    def generate(self, skill, rng, difficulty=None):
        d = float(rng.random()) if difficulty is None else float(difficulty)
        digits = (1 if skill == "short" else 3) + int(round(2 * d))
        question = f"echo {int(rng.integers(10 ** digits))}"
        return Example(question, self.label(question), skill, {"source": "generator", "difficulty": round(d, 4)})

    def label(self, question):
        match = re.fullmatch(r"echo (\d+)", question.strip())
        if match is None:
            raise OracleError(f"Expected 'echo N', got {question!r}.")
        return str(int(match.group(1)))

    def normalize_answer(self, answer):
        text = answer.strip()
        return str(int(text)) if text.isdigit() else None

    def build_heldout(self):
        return heldout_from_generators(self, self.heldout_size)


def failure(check: str) -> str:
    """The start of check_task's message for ``check``."""
    return rf"check_task\(\w+ '\w*' v-?\w+\): check '{check}' failed\."


def test_a_task_that_keeps_the_contract_passes_and_gets_a_report():
    report = check_task(EchoTask())
    assert report["task"] == "echo" and report["skills"] == 2
    assert report["heldout"] == {"validation": 10, "test": 10}
    assert report["generated"] == 2 * 6 * 4 and report["warnings"] == []
    assert report["student"] == "TransformerStudent" and report["characters"] == " 0123456789ceho"
    assert report["checks"] == [
        "attributes", "skill_tree", "heldout_shape", "heldout_fixed", "heldout_disjoint", "generate",
        "generate_deterministic", "skill", "oracle_labels", "label_canonical", "oracle_accepts", "question_form",
        "difficulty", "classify", "vocabulary",
    ]


def test_arithmetic_passes():
    report = check_task(ArithmeticTask(heldout_size=10))
    assert report["warnings"] == [] and report["heldout"] == {"validation": 150, "test": 150}


def test_a_task_of_the_old_private_build_heldout_still_passes():
    class OldStyle(EchoTask):
        build_heldout = None  # hide the new name: this task is written as before the rename

        def _build_heldout(self):
            return EchoTask.build_heldout(self)

    del OldStyle.build_heldout
    report = check_task(OldStyle())
    assert "heldout_fixed" in report["checks"]


def test_the_message_names_the_check_what_was_expected_what_came_the_example_and_the_fix():
    class WrongAnswer(EchoTask):
        def generate(self, skill, rng, difficulty=None):
            ex = super().generate(skill, rng, difficulty)
            ex.answer = ex.answer + "1"
            return ex

    with pytest.raises(TaskCheckError) as info:
        check_task(WrongAnswer())
    message = str(info.value)
    assert info.value.check == "oracle_accepts" and isinstance(info.value, (DatagymError, ValueError))
    assert re.match(failure("oracle_accepts"), message)
    for part in ("\n  expected: task.verify(example) == 'accepted'", "\n  got: 'wrong_answer': answer ",
                 "\n  example: Example(question='echo ", "\n  fix: set each example's answer to label(question)"):
        assert part in message


@pytest.mark.parametrize(
    "attributes, check, message",
    [
        ({"name": ""}, "attributes", r"name: a non-empty string(.|\n)*got: name = ''"),
        ({"version": "1"}, "attributes", r"version: an integer >= 0(.|\n)*got: version = '1'"),
        ({"skill_tree": {"echo": ["short"]}}, "skill_tree", r"skill_tree: a datagym.types.SkillTree(.|\n)*got: dict"),
    ],
)
def test_attributes(attributes, check, message):
    task = EchoTask()
    for key, value in attributes.items():
        setattr(task, key, value)
    with pytest.raises(TaskCheckError, match=failure(check) + r"\n  expected: " + message):
        check_task(task)


def test_a_skill_missing_from_a_split():
    class Missing(EchoTask):
        def build_heldout(self):
            splits = super().build_heldout()
            del splits["test"]["long"]
            return splits

    with pytest.raises(TaskCheckError, match=failure("heldout_shape") + r"(.|\n)*got: missing \['long'\], unknown \[\]"):
        check_task(Missing())


def test_an_empty_split():
    class Empty(EchoTask):
        def build_heldout(self):
            splits = super().build_heldout()
            splits["validation"]["short"] = []
            return splits

    with pytest.raises(TaskCheckError, match=r"a non-empty list of Example for 'validation' skill 'short'"):
        check_task(Empty())


def test_heldout_sets_that_change_from_call_to_call():
    class Unseeded(EchoTask):
        def build_heldout(self):
            splits = super().build_heldout()
            splits["test"]["long"][0] = self.generate("long", np.random.default_rng())  # fresh entropy
            return splits

    with pytest.raises(
        TaskCheckError,
        match=failure("heldout_fixed") + r"(.|\n)*a second call gave different examples\n  example: test 'long' #0",
    ):
        check_task(Unseeded())


def test_heldout_sets_that_differ_between_instances():
    made = []

    class PerInstance(EchoTask):
        def __init__(self, heldout_size=5):
            super().__init__(heldout_size)
            made.append(self)
            self.offset = len(made)

        def build_heldout(self):
            splits = super().build_heldout()
            splits["validation"]["short"][0] = self.generate("short", np.random.default_rng(self.offset))
            return splits

    with pytest.raises(
        TaskCheckError, match=re.escape("the same held-out sets in a fresh instance (PerInstance(*(), **{'heldout_size': 3}))")
    ):
        check_task(PerInstance(heldout_size=3))


def test_a_question_in_both_validation_and_test_whitespace_ignored():
    class Leaky(EchoTask):
        def build_heldout(self):
            splits = super().build_heldout()
            question = splits["validation"]["short"][0].question
            splits["test"]["long"][0] = Example(" " + question.replace(" ", "  "), self.label(question), "long",
                                                {"difficulty": 0.0})
            return splits

    with pytest.raises(
        TaskCheckError,
        match=failure("heldout_disjoint") + r"(.|\n)*got: 1 test question\(s\) also in validation\n  example: "
        r"' echo  \d+' \(validation skill 'short', test skill 'long'\)",
    ):
        check_task(Leaky())


def test_a_generator_that_reads_global_random_state():
    class Global(EchoTask):
        def generate(self, skill, rng, difficulty=None):
            ex = super().generate(skill, rng, difficulty)
            if ex.provenance.get("source") == "generator":
                ex.question = f"echo {random.randrange(10**6)}"
                ex.answer = self.label(ex.question)
            return ex

        def build_heldout(self):  # fixed sets, so only the generator is at fault
            return EchoTask().build_heldout()

    with pytest.raises(TaskCheckError, match=failure("generate_deterministic") + r"(.|\n)*draw every random choice"):
        check_task(Global())


def test_a_generator_that_raises_for_a_difficulty():
    class NoNone(EchoTask):
        def generate(self, skill, rng, difficulty=None):
            if difficulty is None:
                raise TypeError("difficulty required")
            return super().generate(skill, rng, difficulty)

        def build_heldout(self):
            return EchoTask().build_heldout()

    with pytest.raises(TaskCheckError, match=failure("generate") + r"(.|\n)*got: TypeError: difficulty required"):
        check_task(NoNone())


def test_an_example_of_another_skill():
    class Mislabelled(EchoTask):
        def generate(self, skill, rng, difficulty=None):
            ex = super().generate(skill, rng, difficulty)
            ex.skill = "short"
            return ex

    with pytest.raises(TaskCheckError, match=failure("skill") + r"(.|\n)*the first 'short' instead of 'long'"):
        check_task(Mislabelled())


def test_an_oracle_that_cannot_label_the_tasks_own_questions():
    class Strict(EchoTask):
        def label(self, question):
            if question.endswith("7"):
                raise OracleError("no sevens")
            return super().label(question)

        def generate(self, skill, rng, difficulty=None):
            ex = EchoTask.generate(EchoTask(), skill, rng, difficulty)
            return ex

    with pytest.raises(TaskCheckError, match=failure("oracle_labels") + r"(.|\n)*got: OracleError: no sevens"):
        check_task(Strict())


def test_an_oracle_whose_labels_are_not_canonical():
    class Padded(EchoTask):
        def label(self, question):
            return " " + super().label(question)

    with pytest.raises(TaskCheckError, match=failure("label_canonical") + r"(.|\n)*got: label ' \d+', normalized '\d+'"):
        check_task(Padded())


def test_questions_not_in_the_tasks_own_format():
    class Untidy(EchoTask):
        def normalize_question(self, question):
            return question.replace("echo ", "echo:")

    with pytest.raises(TaskCheckError, match=failure("question_form") + r"(.|\n)*got: 'echo \d+' normalizes to 'echo:\d+'"):
        check_task(Untidy())


def _without_difficulty(task_class):
    class NoDifficulty(task_class):
        def build_heldout(self):
            splits = super().build_heldout()
            for split in splits.values():
                for examples in split.values():
                    for ex in examples:
                        del ex.provenance["difficulty"]
            return splits

    return NoDifficulty


def test_heldout_examples_without_difficulty_are_a_warning_by_default():
    with pytest.warns(TaskCheckWarning, match=r"20 of 20 held-out examples record no provenance\['difficulty'\]"):
        report = check_task(_without_difficulty(EchoTask)())
    assert len(report["warnings"]) == 1 and "difficulty bands" in report["warnings"][0]
    assert "difficulty" in report["checks"]


def test_heldout_examples_without_difficulty_are_an_error_when_required():
    with pytest.raises(
        TaskCheckError,
        match=failure("difficulty") + r"(.|\n)*on every held-out example\n  got: 20 of 20 without one(.|\n)*"
        r"the difficulty bands need it",
    ):
        check_task(_without_difficulty(EchoTask)(), require_difficulty=True)


def test_a_difficulty_outside_0_1():
    class Percent(EchoTask):
        def generate(self, skill, rng, difficulty=None):
            ex = super().generate(skill, rng, difficulty)
            ex.provenance["difficulty"] *= 100
            return ex

    with pytest.raises(TaskCheckError, match=failure("difficulty") + r"(.|\n)*a float in \[0, 1\] \(or absent\)\n  got: \d"):
        check_task(Percent())


def test_classify_must_name_a_skill_or_none():
    class Bad(EchoTask):
        def classify(self, question):
            return "digits"  # a family, not a leaf

    with pytest.raises(TaskCheckError, match=failure("classify") + r"(.|\n)*got: 'digits' \(\d+ question\(s\)\)"):
        check_task(Bad())


def test_classify_disagreeing_with_the_generators_is_a_warning():
    class Shy(EchoTask):
        def classify(self, question):
            return "short"

    with pytest.warns(TaskCheckWarning, match="classify puts"):
        report = check_task(Shy())
    assert report["warnings"][0].startswith("classify puts 34 of 68 of the task's own questions")


def test_a_character_the_tasks_characters_miss_is_named_repr_d():
    class Tabbed(EchoTask):
        def generate(self, skill, rng, difficulty=None):
            ex = super().generate(skill, rng, difficulty)
            if difficulty == 0.75:  # characters() samples 0, 0.5, 1 and None: it misses this one
                ex.question = ex.question.replace(" ", "\t")
            return ex

        def label(self, question):
            return super().label(question.replace("\t", " "))

        def normalize_question(self, question):
            return question

    with pytest.raises(
        TaskCheckError,
        match=failure("vocabulary") + r"(.|\n)*got: it cannot encode '\\t' \(each would read as UNK(.|\n)*"
        r"example: Example\(question='echo\\t\d+'(.|\n)*fix: override Task.characters\(\)",
    ):
        check_task(Tabbed())


def test_a_task_that_cannot_be_made_twice_is_checked_on_an_untouched_copy():
    sizes = iter([4])

    class OneShot(EchoTask):
        def __init__(self):
            super().__init__(next(sizes))  # a second OneShot() raises StopIteration

    report = check_task(OneShot())
    assert "heldout_fixed" in report["checks"] and report["warnings"] == []


def test_a_task_that_can_be_neither_made_again_nor_copied_gets_a_warning():
    sizes = iter([4])

    class Pinned(EchoTask):
        def __init__(self):
            super().__init__(next(sizes))

        def __deepcopy__(self, memo):
            raise TypeError("holds a lock")

    with pytest.warns(TaskCheckWarning, match="could not make a second instance of Pinned"):
        check_task(Pinned())


def test_samples_must_be_a_positive_integer():
    with pytest.raises(ConfigError, match="Expected samples to be a positive integer"):
        check_task(EchoTask(), samples=0)
