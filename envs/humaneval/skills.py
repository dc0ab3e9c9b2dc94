"""The offline skill labelling of HumanEval's 164 problems (until skill discovery names them).

A problem's skill is the kind of value its function takes and the kind it returns, read off
the first of its own test assertions that calls the function on literals:

- ``assert candidate(x) == y`` (``y`` a literal): takes ``x``'s kind, returns ``y``'s;
- ``assert candidate(x)`` or ``assert not candidate(x)``: returns a truth value;
- any other comparison (``abs(candidate(x) - y) < 1e-6``): returns a number.

Where no test assertion calls it on literals, the docstring's first example
(``>>> f(x)`` then its output) decides; where it has none, the function's type annotations
(a missing return annotation counts as the argument's kind). Kinds are ``strings`` (str),
``lists`` (list, tuple, dict, set) and ``numbers`` (int, float); a truth value, ``None`` or a
value of another kind than the argument's is a "value". The six skills, by family:

| family | skill | what the function does |
|---|---|---|
| strings | ``strings_to_strings`` | turns text into text |
| strings | ``strings_to_values`` | reads text: a count, a truth value, a list |
| lists | ``lists_to_lists`` | turns a sequence into a sequence |
| lists | ``lists_to_values`` | reads a sequence: a sum, a truth value, an element |
| numbers | ``numbers_to_numbers`` | computes a number from numbers |
| numbers | ``numbers_to_values`` | reads a number: a truth value, its digits, a list |

The rule is mechanical on purpose: anyone can recompute it, and a skill file from
``datagym skills discover`` (the LLM issue) can replace it without touching the task.
"""

from __future__ import annotations

import ast
import doctest
from typing import Any

FAMILIES = {
    "strings": ("strings_to_strings", "strings_to_values"),
    "lists": ("lists_to_lists", "lists_to_values"),
    "numbers": ("numbers_to_numbers", "numbers_to_values"),
}
SKILLS = tuple(skill for skills in FAMILIES.values() for skill in skills)


def kind_of(value: Any) -> str:
    """``strings``, ``lists``, ``numbers``, or ``values`` (a truth value, None, anything else)."""
    if isinstance(value, bool) or value is None:
        return "values"
    if isinstance(value, str):
        return "strings"
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        return "lists"
    if isinstance(value, (int, float)):
        return "numbers"
    return "values"


def _annotation_kind(annotation: ast.expr | None) -> str | None:
    if annotation is None:
        return None
    text = ast.unparse(annotation).lower()
    if text == "str":
        return "strings"
    if text.startswith(("list", "tuple", "dict", "set")):
        return "lists"
    if text in ("int", "float"):
        return "numbers"
    return "values"


def skill_from_kinds(argument: str, result: str) -> str:
    family = argument if argument in FAMILIES else "lists"
    return f"{family}_to_{family}" if result == family else f"{family}_to_values"


def _literal(node: ast.expr) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False, None


def _call_of(node: ast.expr, name: str) -> ast.Call | None:
    """The first call of ``name`` with one or more literal arguments inside ``node``."""
    for inner in ast.walk(node):
        if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name) and inner.func.id == name and inner.args:
            if all(_literal(arg)[0] for arg in inner.args):
                return inner
    return None


def _from_tests(test: str) -> tuple[str, str] | None:
    for node in ast.walk(ast.parse(test)):
        if not isinstance(node, ast.Assert):
            continue
        call = _call_of(node.test, "candidate")
        if call is None:
            continue
        argument = kind_of(_literal(call.args[0])[1])
        expr = node.test.operand if isinstance(node.test, ast.UnaryOp) and isinstance(node.test.op, ast.Not) else node.test
        if expr is call:
            return argument, "values"
        if isinstance(expr, ast.Compare) and len(expr.ops) == 1 and isinstance(expr.ops[0], ast.Eq):
            ok, value = _literal(expr.comparators[0])
            if ok:
                return argument, kind_of(value)
            continue
        if isinstance(expr, ast.Compare):
            return argument, "numbers"
    return None


def _from_docstring(prompt: str, entry_point: str) -> tuple[str, str] | None:
    for docstring in docstrings_with_examples(prompt):
        for example in doctest.DocTestParser().get_examples(docstring):
            try:
                call = _call_of(ast.parse(example.source, mode="eval").body, entry_point)
                ok, value = _literal(ast.parse(example.want.strip(), mode="eval").body)
            except SyntaxError:
                continue
            if call is not None and ok:
                return kind_of(_literal(call.args[0])[1]), kind_of(value)
    return None


def _from_annotations(prompt: str, entry_point: str) -> tuple[str, str]:
    function = next(
        node for node in ast.walk(ast.parse(prompt)) if isinstance(node, ast.FunctionDef) and node.name == entry_point
    )
    argument = _annotation_kind(function.args.args[0].annotation if function.args.args else None) or "values"
    return argument, _annotation_kind(function.returns) or argument


def offline_skill(problem: dict[str, str]) -> str:
    """The skill of one HumanEval problem (``task_id``, ``prompt``, ``test``, ``entry_point``)."""
    kinds = (
        _from_tests(problem["test"])
        or _from_docstring(problem["prompt"], problem["entry_point"])
        or _from_annotations(problem["prompt"], problem["entry_point"])
    )
    return skill_from_kinds(*kinds)


def docstrings_with_examples(prompt: str) -> list[str]:
    """The docstrings of ``prompt``'s functions that hold a doctest example (``>>> call`` and
    the output it prints), as Python reads them; ``[]`` when there is none or it does not parse."""
    try:
        tree = ast.parse(prompt)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            docstring = ast.get_docstring(node, clean=False)
            if docstring and _has_examples(docstring):
                found.append(docstring)
    return found


def _has_examples(docstring: str) -> bool:
    try:
        return any(example.want.strip() for example in doctest.DocTestParser().get_examples(docstring))
    except ValueError:  # inconsistently indented examples: doctest itself would refuse them
        return False
