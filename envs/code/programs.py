"""The Code task's generators: short Python functions with a call, one generator per skill.

Each generator writes a program of a few lines (a function, then a call of it on a literal)
from a template with random names, constants and inputs; ``difficulty`` in [0, 1] widens the
inputs (longer strings and lists, larger numbers) and, past the middle, picks the templates
with more steps. Programs stay short enough for the default character student (under 110
characters with the answer), the form of CRUXEval's output prediction at the scale of a CPU.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from datagym.types import Skill

Generator = Callable[[np.random.Generator, float], str]

LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _word(rng: np.random.Generator, low: int, high: int, letters: str = LETTERS) -> str:
    return "".join(rng.choice(list(letters), size=int(rng.integers(low, high + 1))))


def _ints(rng: np.random.Generator, n: int, low: int, high: int) -> list[int]:
    return [int(x) for x in rng.integers(low, high + 1, size=n)]


def _scale(difficulty: float, low: int, high: int) -> int:
    """``low`` at difficulty 0 up to ``high`` at 1."""
    return low + int(round(difficulty * (high - low)))


def _pick(rng: np.random.Generator, difficulty: float, easy: list, hard: list):
    """A template: from the easy ones below difficulty 0.5, from all of them above."""
    pool = easy if difficulty < 0.5 else easy + hard
    return pool[int(rng.integers(len(pool)))]


def _program(body: list[str], call: str) -> str:
    """The function (one line when its body is one statement; else indented by one space: the
    student reads every character, so programs are written compactly) and the call."""
    header, statements = body[0], [line[4:] if line.startswith("    ") else line for line in body[1:]]
    if len(statements) == 1:
        return f"{header} {statements[0]}\n{call}"
    return "\n".join([header, *(_indent(line) for line in statements), call])


def _indent(line: str) -> str:
    """A line of the body, its four-space indentation levels written as one space each (plus one)."""
    depth = (len(line) - len(line.lstrip(" "))) // 4
    return " " * (depth + 1) + line.lstrip(" ")


def string_methods(rng: np.random.Generator, d: float) -> str:
    s = _word(rng, 2, _scale(d, 3, 6))
    a, b = rng.choice(list(LETTERS), size=2, replace=False)
    template = _pick(rng, d, [
        "return s.upper()", "return s.capitalize()", f"return s.replace('{a}', '{b}')", "return s.count('a')",
    ], [
        "return s.upper().count('A')", f"return s.find('{a}')", "return s + s.upper()", "return s.title()",
    ])
    return _program(["def f(s):", f"    {template}"], f"f('{s}')")


def indexing_slicing(rng: np.random.Generator, d: float) -> str:
    s = _word(rng, 3, _scale(d, 4, 7))
    i, j = sorted(int(x) for x in rng.integers(0, len(s) + 1, size=2))
    k = int(rng.integers(-len(s), len(s)))
    template = _pick(rng, d, [
        f"return s[{k}]", f"return s[{i}:{j}]", "return s[::-1]", "return s[-1] + s[0]",
    ], [
        f"return s[{i}:][::-1]", f"return s[::{int(rng.integers(2, 4))}]", f"return s[:{i}] + s[{j}:]",
    ])
    return _program(["def f(s):", f"    {template}"], f"f('{s}')")


def loops_accumulators(rng: np.random.Generator, d: float) -> str:
    n = int(rng.integers(1, _scale(d, 5, 9) + 1))
    c = int(rng.integers(1, _scale(d, 3, 6) + 1))
    step = _pick(rng, d, ["t += i", f"t += {c}", f"t += i + {c}"], ["t += i * i", f"t = t * 2 + {c}", "t -= i"])
    start = int(rng.integers(0, 10))
    return _program(["def f(n):", f"    t = {start}", "    for i in range(n):", f"        {step}", "    return t"], f"f({n})")


def conditionals(rng: np.random.Generator, d: float) -> str:
    top = _scale(d, 9, 40)
    x, k, c = int(rng.integers(0, top + 1)), int(rng.integers(1, top + 1)), int(rng.integers(1, 10))
    lines = _pick(rng, d, [
        [f"    if x > {k}:", f"        return x - {k}", f"    return x + {c}"],
        [f"    if x % 2 == 0:", "        return x // 2", f"    return x * {c}"],
    ], [
        [f"    if x > {k}:", "        return 'big'", f"    if x == {k}:", "        return 'same'", "    return 'small'"],
        [f"    if x < {k} and x % 2:", f"        return {c}", "    return x % 5"],
    ])
    return _program(["def f(x):", *lines], f"f({x})")


def dicts_sets(rng: np.random.Generator, d: float) -> str:
    s = _word(rng, 3, _scale(d, 4, 8), letters=LETTERS[: _scale(d, 4, 8)])
    a = s[int(rng.integers(len(s)))]
    lines = _pick(rng, d, [
        ["    return len(set(s))"],
        ["    d = {}", "    for c in s:", "        d[c] = d.get(c, 0) + 1", f"    return d['{a}']"],
    ], [
        ["    return len(set(s[::2]))"],
        ["    d = {c: i for i, c in enumerate(s)}", f"    return d['{a}']"],
        [f"    return len(set(s) - {{'{a}'}})"],
    ])
    return _program(["def f(s):", *lines], f"f('{s}')")


def sorting_keys(rng: np.random.Generator, d: float) -> str:
    n = _scale(d, 2, 4)
    template = _pick(rng, d, [
        ("return sorted(xs)", lambda: _ints(rng, n, 0, 9)),
        ("return sorted(xs, reverse=True)", lambda: _ints(rng, n, 0, 9)),
        ("return sorted(xs, key=abs)", lambda: _ints(rng, n, -9, 9)),
    ], [
        ("return sorted(xs, key=lambda x: x % 3)", lambda: _ints(rng, n, 0, 9)),
        ("return sorted(xs, key=lambda x: -x)[0]", lambda: _ints(rng, n + 1, -9, 9)),
        ("return max(xs, key=abs)", lambda: _ints(rng, n + 1, -9, 9)),
    ])
    body, values = template
    return _program(["def f(xs):", f"    {body}"], f"f({values()})")


def comprehensions(rng: np.random.Generator, d: float) -> str:
    n = _scale(d, 2, 4)
    xs = _ints(rng, n, 0, 9)
    c = int(rng.integers(1, 6))
    template = _pick(rng, d, [
        f"return [x * {c} for x in xs]", f"return [x + {c} for x in xs]", f"return [x for x in xs if x > {c}]",
    ], [
        "return [x % 3 for x in xs if x % 2]", f"return sum(x * x for x in xs if x < {c + 3})",
        "return [i * x for i, x in enumerate(xs)]",
    ])
    return _program(["def f(xs):", f"    {template}"], f"f({xs})")


def recursion(rng: np.random.Generator, d: float) -> str:
    c = int(rng.integers(0, 10))
    lines, top = _pick(rng, d, [
        (["    if n == 0:", f"        return {c}", "    return n + f(n - 1)"], 6),
        (["    if n < 2:", f"        return {c}", "    return n * f(n - 1)"], 5),
        (["    if n == 0:", "        return 1", f"    return {c % 3 + 2} * f(n - 1)"], 5),
        (["    if n <= 0:", "        return 0", f"    return {c} + f(n - 2)"], 9),
    ], [
        (["    if n < 2:", "        return n", "    return f(n - 1) + f(n - 2)"], 9),
        (["    if n < 10:", "        return n", "    return n % 10 + f(n // 10)"], 999),
    ])
    n = int(rng.integers(0, _scale(d, max(2, top // 2), top) + 1))
    return _program(["def f(n):", *lines], f"f({n})")


#: (family, skill, description, generator), in the task's skill order
SKILLS: tuple[tuple[str, Skill, Generator], ...] = tuple(
    (family, Skill(name, description, family), generator)
    for family, name, description, generator in (
        ("strings", "string_methods", "the value of str methods (upper, replace, count, find...)", string_methods),
        ("strings", "indexing_slicing", "indexing and slicing a string, negative indices and steps", indexing_slicing),
        ("control_flow", "loops_accumulators", "a for loop updating an accumulator", loops_accumulators),
        ("control_flow", "conditionals", "if / else branches on an integer", conditionals),
        ("collections", "dicts_sets", "counting with a dict, sets of characters", dicts_sets),
        ("collections", "sorting_keys", "sorted, max with keys and reverse", sorting_keys),
        ("functions", "comprehensions", "list comprehensions and generator expressions with filters", comprehensions),
        ("functions", "recursion", "small recursive functions (sums, factorial, Fibonacci, digit sums)", recursion),
    )
)
