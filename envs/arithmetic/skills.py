"""The Arithmetic task's skills: one generator per leaf skill, each with a difficulty knob.

A generator returns ``(question, answer)`` computed from the operands it drew; the oracle later
checks the answer from the question text alone. ``difficulty`` in [0, 1] widens the operand
ranges within the skill (0: the smallest numbers the skill allows, 1: the largest), so a
teacher can ask for easier or harder problems of the same kind.

The skills are chosen so that a teacher's choice matters: a character-level student learns
some (comparing numbers of different lengths, multiplying by 10) from a few dozen examples,
others (carries, borrows, remainders) only from hundreds, and most share sub-skills (digit
facts, carrying), so data for one helps another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from datagym.types import Skill

Generator = Callable[[np.random.Generator, float], tuple[str, str]]


def _int(rng: np.random.Generator, low: int, high: int) -> int:
    """Uniform integer in [low, high]."""
    return int(rng.integers(low, high + 1))


def _scaled(low: int, high: int, difficulty: float) -> int:
    """The upper bound of an operand range at ``difficulty``: from halfway up to ``high``."""
    return max(low, int(round(low + (high - low) * (0.5 + 0.5 * difficulty))))


def _digits(n: int) -> list[int]:
    return [int(c) for c in reversed(str(n))]


def _has_carry(a: int, b: int) -> bool:
    da, db = _digits(a), _digits(b)
    return any(x + y >= 10 for x, y in zip(da, db))


def _has_borrow(a: int, b: int) -> bool:
    da, db = _digits(a), _digits(b)
    return any(x < y for x, y in zip(da, db))


def _retry(rng: np.random.Generator, draw: Callable[[], tuple[int, ...]], ok) -> tuple[int, ...]:
    for _ in range(1000):
        values = draw()
        if ok(*values):
            return values
    raise RuntimeError("generator could not satisfy its constraint in 1000 draws")


def add_no_carry(rng, d):
    hi = _scaled(10, 99, d)
    a, b = _retry(rng, lambda: (_int(rng, 10, hi), _int(rng, 1, hi)), lambda a, b: not _has_carry(a, b))
    return f"{a}+{b}", str(a + b)


def add_carry(rng, d):
    hi = _scaled(10, 99, d)
    a, b = _retry(rng, lambda: (_int(rng, 10, hi), _int(rng, 2, hi)), _has_carry)
    return f"{a}+{b}", str(a + b)


def add_3digit(rng, d):
    hi = _scaled(100, 999, d)
    a, b = _int(rng, 100, hi), _int(rng, 100, hi)
    return f"{a}+{b}", str(a + b)


def sub_no_borrow(rng, d):
    hi = _scaled(10, 99, d)
    a, b = _retry(
        rng, lambda: (_int(rng, 10, hi), _int(rng, 1, hi)), lambda a, b: a >= b and not _has_borrow(a, b)
    )
    return f"{a}-{b}", str(a - b)


def sub_borrow(rng, d):
    hi = _scaled(20, 99, d)
    a, b = _retry(rng, lambda: (_int(rng, 11, hi), _int(rng, 2, hi)), lambda a, b: a > b and _has_borrow(a, b))
    return f"{a}-{b}", str(a - b)


def sub_negative(rng, d):
    hi = _scaled(10, 99, d)
    a, b = _retry(rng, lambda: (_int(rng, 1, hi), _int(rng, 10, hi)), lambda a, b: a < b)
    return f"{a}-{b}", str(a - b)


def mul_1digit(rng, d):
    # 10 is left out: ``10*b`` belongs to mul_by_10.
    a, b = _retry(rng, lambda: (_int(rng, 2, _scaled(10, 99, d)), _int(rng, 2, 9)), lambda a, b: a != 10)
    return f"{a}*{b}", str(a * b)


def mul_by_10(rng, d):
    a, b = _int(rng, 1, _scaled(10, 999, d)), int(rng.choice([10, 100]))
    return f"{a}*{b}", str(a * b)


def mul_2digit(rng, d):
    hi = _scaled(11, 99, d)
    a, b = _int(rng, 11, hi), _int(rng, 11, hi)  # 10 is mul_by_10's
    return f"{a}*{b}", str(a * b)


def div_exact(rng, d):
    b, q = _int(rng, 2, 9), _int(rng, 2, _scaled(10, 99, d))
    return f"{b * q}/{b}", str(q)


def mod_1digit(rng, d):
    a, b = _int(rng, 10, _scaled(20, 999, d)), _int(rng, 2, 9)
    return f"{a}%{b}", str(a % b)


def _sign(a: int, b: int) -> str:
    return "<" if a < b else ">" if a > b else "="


def compare_same_length(rng, d):
    width = 2 if rng.random() >= d * 0.8 else 3
    lo, hi = 10 ** (width - 1), 10**width - 1
    a = _int(rng, lo, hi)
    # Equal pairs and pairs sharing a leading digit make the skill need more than the first digit.
    roll = rng.random()
    b = a if roll < 0.15 else _int(rng, (a // 10) * 10, min(hi, (a // 10) * 10 + 9)) if roll < 0.5 else _int(rng, lo, hi)
    return f"{a}?{b}", _sign(a, b)


def compare_diff_length(rng, d):
    short = _int(rng, 1, _scaled(9, 99, d))
    long = _int(rng, 10 ** len(str(short)), _scaled(10 ** len(str(short)), 999, d))
    a, b = (short, long) if rng.random() < 0.5 else (long, short)
    return f"{a}?{b}", _sign(a, b)


def add_then_mul(rng, d):
    hi = _scaled(5, 19, d)
    a, b, c = _int(rng, 1, hi), _int(rng, 1, hi), _int(rng, 2, 9)
    return f"({a}+{b})*{c}", str((a + b) * c)


def mul_then_add(rng, d):
    a, b, c = _int(rng, 2, 9), _int(rng, 2, 9), _int(rng, 1, _scaled(10, 99, d))
    return f"{a}*{b}+{c}", str(a * b + c)


@dataclass(frozen=True)
class SkillSpec:
    skill: Skill
    generate: Generator


def _spec(fn: Generator, family: str, description: str) -> SkillSpec:
    return SkillSpec(Skill(fn.__name__, description, family), fn)


SKILL_SPECS: tuple[SkillSpec, ...] = (
    _spec(add_no_carry, "addition", "two-digit addition with no carries, e.g. 23+45"),
    _spec(add_carry, "addition", "two-digit addition with at least one carry, e.g. 27+58"),
    _spec(add_3digit, "addition", "three-digit addition, e.g. 482+319"),
    _spec(sub_no_borrow, "subtraction", "two-digit subtraction with no borrows, e.g. 68-25"),
    _spec(sub_borrow, "subtraction", "two-digit subtraction with a borrow, e.g. 62-37"),
    _spec(sub_negative, "subtraction", "subtraction with a negative result, e.g. 23-58"),
    _spec(mul_1digit, "multiplication", "a number times a single digit, e.g. 34*7"),
    _spec(mul_by_10, "multiplication", "multiplication by 10 or 100, e.g. 57*100"),
    _spec(mul_2digit, "multiplication", "two-digit by two-digit multiplication, e.g. 34*27"),
    _spec(div_exact, "division", "exact division by a single digit, e.g. 84/7"),
    _spec(mod_1digit, "division", "remainder after division by a single digit, e.g. 85%7"),
    _spec(compare_same_length, "comparison", "compare two numbers of equal length: 57?52 is >"),
    _spec(compare_diff_length, "comparison", "compare numbers of different length: 9?120 is <"),
    _spec(add_then_mul, "two_step", "a sum then a product, e.g. (3+4)*6"),
    _spec(mul_then_add, "two_step", "a product then a sum, e.g. 3*4+27"),
)
