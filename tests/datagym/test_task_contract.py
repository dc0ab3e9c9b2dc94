"""The Task contract is public and documented, and tasks written against the old private name work."""

from __future__ import annotations

import pickle
import pydoc
import warnings

import pytest

from datagym.envs.arithmetic.task import ArithmeticTask
from datagym.task import CHARACTER_SAMPLE_DIFFICULTIES, Task


def test_help_of_task_documents_every_method_a_task_writes():
    text = pydoc.render_doc(Task, renderer=pydoc.plaintext)
    assert "build_heldout" in text and "_build_heldout" not in text.replace("``_build_heldout``", "")
    assert "difficulty" in Task.generate.__doc__ and 'provenance' in Task.generate.__doc__
    assert "OracleError" in Task.label.__doc__
    assert "None if" in Task.normalize_answer.__doc__
    assert "version alone" in Task.build_heldout.__doc__ and "share no question" in Task.build_heldout.__doc__
    assert 'provenance["difficulty"]' in Task.build_heldout.__doc__
    assert Task.classify.__doc__.startswith("Optional.") and Task.normalize_question.__doc__.startswith("Optional.")
    assert "check_task" in Task.__doc__


def test_build_heldout_is_the_public_name_and_arithmetic_uses_it():
    assert "build_heldout" in vars(ArithmeticTask)
    task = ArithmeticTask(heldout_size=2)
    assert task.heldout("test") == task.build_heldout()["test"]


def test_a_task_that_defines_the_old_private_name_works_quietly():
    class Old(ArithmeticTask):
        def _build_heldout(self):  # as tasks were written before the rename
            splits = super()._build_heldout()  # the parent's, under its old name
            splits["validation"] = {name: exs[:1] for name, exs in splits["validation"].items()}
            return splits

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        task = Old(heldout_size=3)
        assert all(len(exs) == 1 for exs in task.heldout("validation").values())
        assert all(len(exs) == 3 for exs in task.heldout("test").values())
        assert task.build_heldout().keys() == {"validation", "test"}


def test_a_task_that_defines_neither_name_cannot_be_made():
    class Incomplete(Task):
        def generate(self, skill, rng, difficulty=None): ...

        def label(self, question): ...

        def normalize_answer(self, answer): ...

    with pytest.raises(TypeError, match="abstract method build_heldout"):
        Incomplete()


def test_characters_cover_the_heldout_sets_and_a_fixed_generated_sample():
    task = ArithmeticTask(heldout_size=2)
    chars = task.characters()
    assert chars == "".join(sorted(set(chars)))
    heldout = {ch for split in ("validation", "test") for exs in task.heldout(split).values()
               for ex in exs for ch in ex.question + ex.answer}
    assert heldout <= set(chars)
    assert ArithmeticTask(heldout_size=2).characters() == chars  # fixed, not drawn per instance
    assert CHARACTER_SAMPLE_DIFFICULTIES == (0.0, 0.5, 1.0, None)


def test_a_task_remembers_how_it_was_made_through_a_pickle():
    task = ArithmeticTask(heldout_size=4)
    assert task._init_args == ((), {"heldout_size": 4})
    assert pickle.loads(pickle.dumps(task))._init_args == ((), {"heldout_size": 4})


def test_heldout_from_generators_draws_distinct_seeded_questions_and_splits_them():
    import numpy as np

    from datagym.errors import ConfigError
    from datagym.task import heldout_from_generators

    task = ArithmeticTask(heldout_size=4)
    first, again = heldout_from_generators(task, 4), heldout_from_generators(ArithmeticTask(heldout_size=9), 4)
    assert first == again  # the task's name, version and skill fix them, not the instance
    for skill in task.skill_names:
        val, test = first["validation"][skill], first["test"][skill]
        assert len(val) == len(test) == 4
        questions = [e.question for e in val + test]
        assert len(set(questions)) == 8 and all(e.provenance["source"] == "heldout" for e in val + test)

    class Tiny(ArithmeticTask):  # one question per skill: not enough for two disjoint splits
        def generate(self, skill, rng, difficulty=None):
            return super().generate(skill, np.random.default_rng(0), 0.0)

    with pytest.raises(ConfigError, match=r"Skill 'add_no_carry' has fewer than 4 distinct questions; lower heldout_size"):
        heldout_from_generators(Tiny(heldout_size=2), 2, max_draws=5)
