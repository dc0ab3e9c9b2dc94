"""The Task interface: a skill taxonomy, generators, an oracle and fixed held-out sets."""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from typing import Any, Literal, Sequence

import numpy as np

from datagym.errors import OracleError
from datagym.types import Example, SkillTree

Split = Literal["validation", "test"]

ACCEPTED = "accepted"

#: the difficulties ``Task.characters`` samples each skill's generator at (None: the generator draws)
CHARACTER_SAMPLE_DIFFICULTIES = (0.0, 0.5, 1.0, None)
#: examples per skill and difficulty in that sample
CHARACTER_SAMPLE_SIZE = 8


class Task(ABC):
    """What a data-generation env teaches: skills, generators, an oracle, fixed held-out sets.

    A task sets three attributes and writes four methods (two more are optional). Every env
    level, engine and student works with any task that keeps this contract;
    ``datagym.testing.check_task(task)`` checks it and explains each failure.

    Attributes to set (class attributes, or in ``__init__`` after ``super().__init__()``):

    - ``name`` (str): the task's name, e.g. ``"arithmetic"``; it seeds the held-out sets.
    - ``version`` (int): bump it whenever the held-out sets or the oracle change, so that
      scores of different versions are never compared.
    - ``skill_tree`` (``SkillTree``): the taxonomy; its leaves are the skills that get
      generated and measured, in the order of every per-skill vector
      (``SkillTree.from_families(root, {family: [Skill(...), ...]})`` builds the usual
      root -> family -> skill shape).

    Optional attributes: ``max_question_chars`` and ``max_answer_chars``, the longest question
    and answer the Open-Ended env reads from an agent's text (1024 and 256 when unset);
    ``answer_format``, how a generative student cuts its completion to the answer
    (``first_line`` when unset, ``completion`` for code, ``boxed`` for math).

    Methods to write: ``generate``, ``label``, ``normalize_answer``, ``build_heldout``.
    Optional: ``normalize_question``, ``classify``, ``characters``, ``verify`` and
    ``grade_many`` (for answers graded by running them rather than by comparing them). Read each one's docstring
    (``help(Task.generate)``...) for what it must do and return.

    The held-out sets are a function of the task's version alone (never the episode seed), so
    scores compare across runs. A task written for an older datagym that defines
    ``_build_heldout`` instead of ``build_heldout`` still works.
    """

    name: str
    version: int
    skill_tree: SkillTree

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # The held-out builder was once the private ``_build_heldout``. Keep both names on every
        # class that defines one, so old tasks (and old tasks calling super()._build_heldout()
        # of a task that now defines build_heldout) work without a warning.
        own = vars(cls)
        if "_build_heldout" in own and "build_heldout" not in own:
            cls.build_heldout = own["_build_heldout"]
        elif "build_heldout" in own and "_build_heldout" not in own:
            cls._build_heldout = own["build_heldout"]

    def __new__(cls, *args: Any, **kwargs: Any) -> "Task":
        self = super().__new__(cls)
        # How this instance was made, so check_task can make a fresh one the same way.
        self._init_args = (args, kwargs)
        return self

    def __init__(self) -> None:
        self._heldout: dict[str, dict[str, list[Example]]] | None = None
        self._test_questions: frozenset[str] | None = None
        self._characters: str | None = None

    @property
    def skill_names(self) -> tuple[str, ...]:
        """The leaf skills, in the order of every per-skill vector."""
        return self.skill_tree.leaves

    # -- what a task writes -------------------------------------------------------------------
    @abstractmethod
    def generate(self, skill: str, rng: np.random.Generator, difficulty: float | None = None) -> Example:
        """One new example of ``skill``: ``Example(question, answer, skill, provenance)``.

        - ``skill`` is one of ``skill_names``; the example's ``skill`` must be that skill.
        - ``difficulty`` is the knob in [0, 1] (0 the easiest questions of the skill, 1 the
          hardest; for arithmetic it widens the operand ranges); ``None`` means draw one
          uniformly from ``rng``. Teachers with difficulty control set it.
        - Draw every random choice from ``rng`` (never global state): the same generator
          state must give the same example.
        - ``answer`` must be the oracle's answer: ``label(question)``.
        - ``provenance`` should record ``{"source": "generator", "difficulty": d}`` with ``d``
          the float in [0, 1] actually used (rounding is fine). The held-out examples'
          ``difficulty`` is what the difficulty bands of the Skill-List env
          (``difficulty_control=True``) and the Skill-Tree env's band nodes score by.
        """

    @abstractmethod
    def label(self, question: str) -> str:
        """The oracle: the gold answer of any well-formed question of the task, whoever wrote it
        (a generator, an agent, an LLM), in canonical form (``normalize_answer(label(q)) ==
        label(q)``). A question it cannot parse or answer raises ``datagym.errors.OracleError``
        (the env then rejects the example as ``unparseable``); it never guesses."""

    @abstractmethod
    def normalize_answer(self, answer: str) -> str | None:
        """The canonical form of an answer (e.g. strip spaces, ``+7`` -> ``7``), or None if the
        text is not an answer at all. Predictions are compared to gold answers through it, and
        it must leave the oracle's own labels unchanged."""

    @abstractmethod
    def build_heldout(self) -> dict[str, dict[str, list[Example]]]:
        """The held-out sets: ``{"validation": {skill: [Example, ...]}, "test": {skill: [...]}}``
        with a non-empty list for every skill in both splits.

        - A function of the task's version alone: seed it from the name, version and skill
          (e.g. ``np.random.default_rng([version, zlib.crc32(f"{name}/{skill}".encode())])``),
          never the episode seed, ``hash()`` or global state, so every run and every process
          scores on the same questions.
        - Validation (the teacher's feedback) and test (the final score) share no question
          (whitespace ignored, as ``is_test_question`` compares).
        - Each example should record ``provenance["difficulty"]`` (a float in [0, 1]): the
          difficulty bands need it (questions without one count in every band).

        Called once per instance; ``heldout(split)`` returns the cached sets.
        """

    def normalize_question(self, question: str) -> str:
        """Optional. The form a question written by an agent is labelled and trained in: the task's
        own format for the same question, so that training text matches the held-out questions.
        The default strips surrounding whitespace; tasks may override. Generated and held-out
        questions should already be in that form."""
        return question.strip()

    def classify(self, question: str) -> str | None:
        """Optional. The leaf skill a question exercises, None if it fits none (the default). The
        Open-Ended env files agent-written problems under it (``unclassified`` when None)."""
        return None

    def characters(self) -> str:
        """Every character the task's questions and answers use, distinct, sorted by code point.

        Students with a character vocabulary build it from this (the default student does), so
        a character missing here can never be read or written by the student. The default
        collects the characters of the held-out sets and of a fixed sample of generated
        examples per skill (difficulties 0, 0.5, 1 and None). Override it with the task's
        exact alphabet when the generators can write characters that sample may miss.
        """
        if getattr(self, "_characters", None) is None:
            seen: set[str] = set()
            for split in ("validation", "test"):
                for examples in self.heldout(split).values():
                    for ex in examples:
                        seen.update(ex.question, ex.answer)
            for skill in self.skill_names:
                rng = np.random.default_rng([zlib.crc32(f"{self.name}/{self.version}/{skill}/chars".encode())])
                for difficulty in CHARACTER_SAMPLE_DIFFICULTIES:
                    for _ in range(CHARACTER_SAMPLE_SIZE):
                        ex = self.generate(skill, rng, difficulty)
                        seen.update(ex.question, ex.answer)
            self._characters = "".join(sorted(seen))
        return self._characters

    # -- what the base class provides ---------------------------------------------------------
    def heldout(self, split: Split) -> dict[str, list[Example]]:
        """The fixed held-out examples of ``split`` (``validation`` or ``test``), per skill."""
        if split not in ("validation", "test"):
            raise ValueError(f"Expected split 'validation' or 'test', got {split!r}.")
        if getattr(self, "_heldout", None) is None:
            self._heldout = self.build_heldout()
        return self._heldout[split]

    def is_test_question(self, question: str) -> bool:
        """Whether ``question`` (whitespace ignored) is in the test set: the contamination guard."""
        if getattr(self, "_test_questions", None) is None:
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

    def grade_many(self, examples: Sequence[Example], predictions: Sequence[str]) -> list[bool]:
        """Whether each prediction answers its held-out example: how the env scores the student.
        The default compares answers (``is_correct``); a task whose answers are graded by running
        them (HumanEval's completions, against the question's tests) overrides it, and may grade
        the whole batch at once."""
        return [self.is_correct(prediction, ex.answer) for ex, prediction in zip(examples, predictions)]

    def describe(self) -> dict:
        return {"name": self.name, "version": self.version, "skills": list(self.skill_names)}


def heldout_from_generators(task: Task, size: int, max_draws: int = 200) -> dict[str, dict[str, list[Example]]]:
    """The usual ``build_heldout``: per skill, ``2 * size`` distinct questions from the task's own
    generator (difficulty drawn uniformly), seeded by the task's name, version and skill alone,
    the first ``size`` for validation and the rest for test (so the two are disjoint); each
    example's provenance says ``source: heldout``. Raises ConfigError when a skill has fewer
    than ``2 * size`` distinct questions in ``max_draws * size`` draws."""
    from datagym.errors import ConfigError

    splits: dict[str, dict[str, list[Example]]] = {"validation": {}, "test": {}}
    for name in task.skill_names:
        rng = np.random.default_rng([task.version, zlib.crc32(f"{task.name}/{name}".encode())])
        seen: set[str] = set()
        drawn: list[Example] = []
        for _ in range(max_draws * size):
            if len(drawn) == 2 * size:
                break
            example = task.generate(name, rng)
            if _squash(example.question) not in seen:
                seen.add(_squash(example.question))
                example.provenance["source"] = "heldout"
                drawn.append(example)
        else:
            raise ConfigError(f"Skill {name!r} has fewer than {2 * size} distinct questions; lower heldout_size.")
        splits["validation"][name] = drawn[:size]
        splits["test"][name] = drawn[size:]
    return splits


def pick_by_difficulty(difficulties: Sequence[float], rng: np.random.Generator, difficulty: float | None,
                       temperature: float = 0.1) -> int:
    """The index of a pool item for data selection: uniform when ``difficulty`` is None, else drawn
    with weights falling off as ``exp(-|d_i - difficulty| / temperature)`` (the nearest items the
    likeliest, never only one). Tasks that select from a fixed pool (HumanEval, MATH) use it."""
    if difficulty is None:
        return int(rng.integers(len(difficulties)))
    distance = np.abs(np.asarray(difficulties, dtype=np.float64) - float(np.clip(difficulty, 0.0, 1.0)))
    weights = np.exp(-(distance - distance.min()) / temperature)
    return int(rng.choice(len(distance), p=weights / weights.sum()))


def _squash(text: str) -> str:
    return "".join(text.split())
