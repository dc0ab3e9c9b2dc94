"""The Student interface: the model a teacher teaches."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Literal, Sequence

from datagym.types import Example

TrainingMode = Literal["continual", "retrain"]
TRAINING_MODES = ("continual", "retrain")


class Student(ABC):
    """A learner that trains on examples and answers questions.

    ``continual`` training keeps training the current weights on each new batch of data;
    ``retrain`` starts again from the initial weights on all data seen so far (DataEnvGym's
    protocol). Implementations must be deterministic given the seed passed to ``reset``.
    """

    mode: TrainingMode

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
