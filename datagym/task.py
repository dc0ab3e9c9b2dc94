"""The Task interface: a skill taxonomy, generators, an oracle and fixed held-out sets."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Literal

import numpy as np

from datagym.errors import OracleError
from datagym.types import Example, SkillTree

Split = Literal["validation", "test"]

ACCEPTED = "accepted"


class Task(ABC):
    """What a data-generation env teaches.

    Subclasses set ``name``, ``version`` and ``skill_tree`` and implement ``generate``,
    ``label``, ``normalize_answer`` and ``_build_heldout``. The held-out sets are a function
    of the task's version alone (never the episode seed), so scores compare across runs.
    """

    name: str
    version: int
    skill_tree: SkillTree

    def __init__(self) -> None:
        self._heldout: dict[str, dict[str, list[Example]]] | None = None
        self._test_questions: frozenset[str] | None = None

    @property
    def skill_names(self) -> tuple[str, ...]:
        """The leaf skills, in the order of every per-skill vector."""
        return self.skill_tree.leaves

    @abstractmethod
    def generate(self, skill: str, rng: np.random.Generator, difficulty: float | None = None) -> Example:
        """One example of ``skill``; ``difficulty`` in [0, 1], None draws it uniformly."""

    @abstractmethod
    def label(self, question: str) -> str:
        """The oracle: the gold answer of any well-formed question. Raises OracleError."""

    @abstractmethod
    def normalize_answer(self, answer: str) -> str | None:
        """Canonical form of an answer, None if it is not an answer at all."""

    def normalize_question(self, question: str) -> str:
        """The form a question written by an agent is labelled and trained in: the task's own
        format for the same question, so that training text matches the held-out questions.
        The default strips surrounding whitespace; tasks may override."""
        return question.strip()

    def classify(self, question: str) -> str | None:
        """The leaf skill a question exercises, None if it fits none. Tasks may override."""
        return None

    @abstractmethod
    def _build_heldout(self) -> dict[str, dict[str, list[Example]]]:
        """{"validation": {skill: [...]}, "test": {skill: [...]}}, fixed by the task version."""

    def heldout(self, split: Split) -> dict[str, list[Example]]:
        if split not in ("validation", "test"):
            raise ValueError(f"Expected split 'validation' or 'test', got {split!r}.")
        if self._heldout is None:
            self._heldout = self._build_heldout()
        return self._heldout[split]

    def is_test_question(self, question: str) -> bool:
        """Whether ``question`` (whitespace ignored) is in the test set: the contamination guard."""
        if self._test_questions is None:
            self._test_questions = frozenset(
                _squash(ex.question) for exs in self.heldout("test").values() for ex in exs
            )
        return _squash(question) in self._test_questions

    def verify(self, example: Example) -> str:
        """``accepted``, or why not: the oracle cannot label it, or its answer is wrong."""
        try:
            gold = self.label(example.question)
        except OracleError:
            return "unparseable"
        if self.normalize_answer(example.answer) != gold:
            return "wrong_answer"
        return ACCEPTED

    def is_correct(self, prediction: str, gold: str) -> bool:
        norm = self.normalize_answer(prediction)
        return norm is not None and norm == self.normalize_answer(gold)

    def describe(self) -> dict:
        return {"name": self.name, "version": self.version, "skills": list(self.skill_names)}


def _squash(text: str) -> str:
    return "".join(text.split())
