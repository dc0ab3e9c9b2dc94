"""A scripted student for HumanEval's envs: it writes a problem's canonical solution once it has
been trained on its skill, and a broken one (``return None``) before.

HumanEval is meant for pretrained students; this one stands in for them in the tests, so that
grading in the sandbox, the per-skill scores and the reward are checked against known answers.
Importable by name (``reference_student:ReferenceStudent``) once this folder is on the path.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

from datagym.student import Student
from datagym.types import Example

BROKEN = "    return None\n"


class ReferenceStudent(Student):
    """Canonical solutions for the skills it has been trained on, ``BROKEN`` for the rest."""

    def __init__(self, mode: str = "continual") -> None:
        self.mode = mode
        self.seen: Counter = Counter()
        self.task: Any = None

    def prepare(self, task: Any) -> None:
        self.task = task

    def reset(self, seed: int) -> None:
        self.seen = Counter()

    def train(self, examples: Sequence[Example]) -> dict[str, float]:
        self.seen.update(ex.skill for ex in examples)
        return {"loss": 0.0, "updates": float(len(examples))}

    def predict(self, questions: Sequence[str]) -> list[str]:
        return [self.task.label(q) if self.seen[self.task.classify(q)] else BROKEN for q in questions]

    def loss(self, examples: Sequence[Example]) -> list[float]:
        return [0.0 if self.seen[ex.skill] else 1.0 for ex in examples]

    def state_dict(self) -> dict[str, Any]:
        return {"seen": dict(self.seen)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.seen = Counter(state["seen"])
