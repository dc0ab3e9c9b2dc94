"""The Arithmetic task: fifteen skills in six families, an exact oracle, fixed held-out sets."""

from __future__ import annotations


import numpy as np

from datagym.errors import ConfigError, OracleError
from datagym.task import Task, heldout_from_generators
from datagym.types import Example, SkillTree
from datagym.envs.arithmetic import oracle
from datagym.envs.arithmetic.oracle import BinaryOp, Number
from datagym.envs.arithmetic.skills import SKILL_SPECS, _has_borrow, _has_carry


class ArithmeticTask(Task):
    """Integer arithmetic for a character-level student.

    Args:
        heldout_size: questions per skill in each of the validation and test sets.
    """

    name = "arithmetic"
    version = 0

    def __init__(self, heldout_size: int = 50) -> None:
        super().__init__()
        if not isinstance(heldout_size, int) or heldout_size < 1:
            raise ConfigError(f"Expected heldout_size to be a positive integer, got {heldout_size!r}.")
        self.heldout_size = heldout_size
        self._specs = {spec.skill.name: spec for spec in SKILL_SPECS}
        families: dict[str, list] = {}
        for spec in SKILL_SPECS:
            families.setdefault(spec.skill.family, []).append(spec.skill)
        self.skill_tree = SkillTree.from_families("arithmetic", families)

    def generate(self, skill: str, rng: np.random.Generator, difficulty: float | None = None) -> Example:
        spec = self._specs.get(skill)
        if spec is None:
            raise KeyError(f"Unknown skill {skill!r}; expected one of {list(self._specs)}.")
        d = float(rng.random()) if difficulty is None else float(np.clip(difficulty, 0.0, 1.0))
        question, answer = spec.generate(rng, d)
        return Example(question, answer, skill, {"source": "generator", "difficulty": round(d, 4)})

    def label(self, question: str) -> str:
        return oracle.label(question)

    def normalize_answer(self, answer: str) -> str | None:
        return oracle.normalize_answer(answer)

    def normalize_question(self, question: str) -> str:
        return oracle.canonical_question(question)

    def classify(self, question: str) -> str | None:
        try:
            left, right = oracle.parse(question)
        except OracleError:
            return None
        if right is not None:
            if isinstance(left, Number) and isinstance(right, Number):
                same = len(str(left.value)) == len(str(right.value))
                return "compare_same_length" if same else "compare_diff_length"
            return None
        if not isinstance(left, BinaryOp):
            return None
        lhs, rhs = left.left, left.right
        if isinstance(lhs, Number) and isinstance(rhs, Number):
            a, b = lhs.value, rhs.value
            return _classify_binary(left.op, a, b)
        if left.op == "*" and isinstance(lhs, BinaryOp) and lhs.op == "+" and isinstance(rhs, Number):
            return "add_then_mul"
        if left.op == "+" and isinstance(lhs, BinaryOp) and lhs.op == "*" and isinstance(rhs, Number):
            return "mul_then_add"
        return None

    def build_heldout(self) -> dict[str, dict[str, list[Example]]]:
        # Seeded by task name, version and skill alone: the same sets in every run.
        return heldout_from_generators(self, self.heldout_size)


def _classify_binary(op: str, a: int, b: int) -> str | None:
    if op == "+":
        if a >= 100 and b >= 100:
            return "add_3digit"
        return "add_carry" if _has_carry(a, b) else "add_no_carry"
    if op == "-":
        if a < b:
            return "sub_negative"
        return "sub_borrow" if _has_borrow(a, b) else "sub_no_borrow"
    if op == "*":
        if a in (10, 100) or b in (10, 100):
            return "mul_by_10"
        return "mul_1digit" if min(a, b) <= 9 else "mul_2digit"
    if op == "/":
        return "div_exact"
    if op == "%":
        return "mod_1digit"
    return None
