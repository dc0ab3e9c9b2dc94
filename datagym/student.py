"""The Student interface: the model a teacher teaches."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import fields
from typing import TYPE_CHECKING, Any, Literal, Sequence, TypeVar

from datagym.types import Example

if TYPE_CHECKING:
    from datagym.task import Task

TrainingMode = Literal["continual", "retrain"]
TRAINING_MODES = ("continual", "retrain")

ConfigT = TypeVar("ConfigT")


def config_from_kwargs(cls: type[ConfigT], kwargs: dict[str, Any]) -> ConfigT:
    """A student's config dataclass from keyword options; an unknown option raises ConfigError
    naming it and the known ones."""
    from datagym.errors import ConfigError

    known = {f.name for f in fields(cls)}
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise ConfigError(f"Unknown student option(s) {unknown}; expected some of {sorted(known)}.")
    return cls(**kwargs)


class Student(ABC):
    """A learner that trains on examples and answers questions.

    ``continual`` training keeps training the current weights on each new batch of data;
    ``retrain`` starts again from the initial weights on all data seen so far (DataEnvGym's
    protocol). Implementations must be deterministic given the seed passed to ``reset``.

    The env calls ``prepare(task)`` once, right after building the student and before the
    first ``reset``; a student whose vocabulary (or anything else) depends on the task sets it
    up there. ``unencodable(text)`` says which characters the student cannot represent
    (``datagym.testing.check_task`` reports them).
    """

    mode: TrainingMode

    def prepare(self, task: "Task") -> None:
        """Set up for teaching ``task`` (e.g. build the vocabulary from ``task.characters()``);
        called once by the env before any ``reset``. Raise ``ConfigError`` if the student cannot
        learn the task as configured. The default does nothing."""

    def unencodable(self, text: str) -> list[str]:
        """The distinct characters of ``text`` the student cannot encode (they would reach the
        model as an unknown token), sorted by code point; ``[]`` when it can encode them all.
        The default, for students that encode any text (byte or sub-word tokenizers), is ``[]``."""
        return []

    @abstractmethod
    def reset(self, seed: int) -> None:
        """Back to the initial (untrained) weights drawn from ``seed``; forget all data."""

    @abstractmethod
    def train(self, examples: Sequence[Example]) -> dict[str, float]:
        """Train on ``examples``; returns statistics (e.g. ``loss``, ``updates``)."""

    @abstractmethod
    def predict(self, questions: Sequence[str]) -> list[str]:
        """The student's answer to each question."""

    @abstractmethod
    def loss(self, examples: Sequence[Example]) -> list[float]:
        """Per example, the mean negative log-likelihood (nats per answer token) of the gold
        answer given the question: a graded score that moves before exact-match accuracy does."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly where it is (weights, optimizer, RNG, data)."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""

    def close(self) -> None:
        """Free what the student holds outside this process's memory (a Ray actor, a vLLM
        engine); ``env.close()`` calls it. Nothing, by default."""


class SurrogateStudent(Student):
    """A student that is a model of learning rather than a network (the simulated student).

    Besides the ``Student`` methods it trains on counts and scores a held-out split at once,
    so the env can skip generating example text and decoding answers where a step's plan is
    only counts per skill (the Skill-List level): its fast path. Everything the env observes
    and reports is the same either way; only ``last_examples`` stays empty on that path.
    """

    skill_names: tuple[str, ...]

    @abstractmethod
    def train_counts(self, counts: Any, difficulty: Any = None) -> dict[str, float]:
        """Train on ``counts[i]`` examples of skill ``i`` of the task (its ``skill_names`` order),
        at ``difficulty[i]`` where given (else drawn at random, as generators do)."""

    @abstractmethod
    def score(self, split: str) -> tuple[Any, Any]:
        """For each question of the task's held-out ``split``, skill by skill in the task's order:
        whether the student answers it right (bools) and its loss: what ``predict`` and ``loss``
        would give for those questions."""
