"""The Code task: predict what a short Python function returns (CRUXEval's output prediction).

A question is a program: a function, then a call of it on a literal, as its last line. The
answer is the call's value, written as Python writes it (``repr``): ``'CBA'``, ``6``,
``[2, 4]``. Eight skills in four families, each a generator with a difficulty knob
(``envs/code/programs.py``).

The oracle runs any well-formed program in the sandbox (``datagym/sandbox.py``): the last
expression is printed with ``repr``, and the output must be a Python literal. A program the
sandbox does not pass (an exception, a timeout, ...), or whose value is not a literal (a
function, an object), cannot be labelled: the env rejects it as ``unparseable`` and never trains
on it. Programs this task's own generators wrote are labelled by the value their (trusted,
template-built) code computed when they were written, in this process: the sandbox costs a few
milliseconds a program, and a step verifies hundreds.
"""

from __future__ import annotations

import ast
import string
from typing import Any

import numpy as np

from datagym.errors import ConfigError, OracleError
from datagym.sandbox import Sandbox, SandboxLimits
from datagym.task import Task, heldout_from_generators
from datagym.types import Example, SkillTree
from datagym.envs.code.programs import SKILLS

#: what a program may use when the oracle runs it
ORACLE_LIMITS = SandboxLimits(wall_seconds=2.0, cpu_seconds=2.0, memory_bytes=512 << 20, output_bytes=4096)
#: the longest program the oracle takes
MAX_PROGRAM_CHARS = 2000
#: generator-written programs whose answers are kept (then the oldest half is dropped)
MAX_KNOWN = 200_000
#: every character a program or an answer of this task may use
ALPHABET = "".join(sorted(set(string.printable) - set("\t\r\x0b\x0c")))


def canonical_value(text: str) -> str:
    """``text`` (a Python literal) in canonical form: ``repr`` of its value, with the elements
    of sets in sorted order (a set's printed order depends on the interpreter's hash seed)."""
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise OracleError(f"Expected a Python literal as the value, got {text.strip()[:80]!r}.") from None
    return _canonical_repr(value)


def _canonical_repr(value: Any) -> str:
    if isinstance(value, (set, frozenset)):
        if not value:
            return "set()" if isinstance(value, set) else "frozenset()"
        inner = "{" + ", ".join(sorted(_canonical_repr(v) for v in value)) + "}"
        return inner if isinstance(value, set) else f"frozenset({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(_canonical_repr(v) for v in value) + "]"
    if isinstance(value, tuple):
        items = [_canonical_repr(v) for v in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_canonical_repr(k)}: {_canonical_repr(v)}" for k, v in value.items()) + "}"
    return repr(value)


def printing_program(question: str) -> str:
    """The program the oracle runs for ``question``: the same statements, the last expression's
    value printed with ``repr``. Raises OracleError for a question that is not such a program."""
    if len(question) > MAX_PROGRAM_CHARS:
        raise OracleError(f"Expected a program of at most {MAX_PROGRAM_CHARS} characters, got {len(question)}.")
    try:
        tree = ast.parse(question)
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        raise OracleError(f"Expected a Python program, got one that does not parse: {exc}") from None
    if not tree.body or not isinstance(tree.body[-1], ast.Expr):
        raise OracleError("Expected a program whose last line is an expression (the call whose value to predict).")
    last = tree.body[-1].value
    printed = ast.Expr(ast.Call(ast.Name("print", ast.Load()), [ast.Call(ast.Name("repr", ast.Load()), [last], [])], []))
    return ast.unparse(ast.fix_missing_locations(ast.Module([*tree.body[:-1], printed], type_ignores=[])))


def _trusted_value(program: str) -> str:
    """The value of a program this task's generators wrote, computed here (never for others)."""
    tree = ast.parse(program)
    namespace: dict[str, Any] = {}
    exec(compile(ast.Module(tree.body[:-1], type_ignores=[]), "<generated>", "exec"), namespace)
    return _canonical_repr(eval(compile(ast.Expression(tree.body[-1].value), "<generated>", "eval"), namespace))


class CodeTask(Task):
    """Code output prediction for a character-level student.

    Args:
        heldout_size: questions per skill in each of the validation and test sets.
        sandbox_workers: warm sandbox workers that label programs written by others.
    """

    name = "code"
    version = 0

    def __init__(self, heldout_size: int = 50, sandbox_workers: int = 1) -> None:
        super().__init__()
        if isinstance(heldout_size, bool) or not isinstance(heldout_size, int) or heldout_size < 1:
            raise ConfigError(f"Expected heldout_size to be a positive integer, got {heldout_size!r}.")
        if isinstance(sandbox_workers, bool) or not isinstance(sandbox_workers, int) or sandbox_workers < 1:
            raise ConfigError(f"Expected sandbox_workers to be a positive integer, got {sandbox_workers!r}.")
        self.heldout_size = heldout_size
        self.sandbox_workers = sandbox_workers
        self._generators = {skill.name: generator for _, skill, generator in SKILLS}
        families: dict[str, list] = {}
        for family, skill, _ in SKILLS:
            families.setdefault(family, []).append(skill)
        self.skill_tree = SkillTree.from_families("code", families)
        self._known: dict[str, str] = {}
        self._sandbox: Sandbox | None = None

    @property
    def sandbox(self) -> Sandbox:
        if self._sandbox is None:
            self._sandbox = Sandbox(workers=self.sandbox_workers, limits=ORACLE_LIMITS)
        return self._sandbox

    def generate(self, skill: str, rng: np.random.Generator, difficulty: float | None = None) -> Example:
        generator = self._generators.get(skill)
        if generator is None:
            raise KeyError(f"Unknown skill {skill!r}; expected one of {list(self._generators)}.")
        d = float(rng.random()) if difficulty is None else float(np.clip(difficulty, 0.0, 1.0))
        program = generator(rng, d)
        answer = self._known.get(program)
        if answer is None:
            answer = _trusted_value(program)
            if len(self._known) >= MAX_KNOWN:
                for key in list(self._known)[: MAX_KNOWN // 2]:
                    del self._known[key]
            self._known[program] = answer
        return Example(program, answer, skill, {"source": "generator", "difficulty": round(d, 4)})

    def label(self, question: str) -> str:
        known = self._known.get(question)
        if known is not None:
            return known
        verdict = self.sandbox.run(printing_program(question))
        if not verdict.passed:
            raise OracleError(f"Expected a program that runs to its end, it did not: {verdict.status} ({verdict.reason}).")
        return canonical_value(verdict.stdout)

    def normalize_answer(self, answer: str) -> str | None:
        try:
            return canonical_value(answer)
        except OracleError:
            return None

    def classify(self, question: str) -> str | None:
        """The skill a program exercises, by what its code uses (the most specific first)."""
        try:
            tree = ast.parse(question)
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            return None
        nodes = list(ast.walk(tree))
        functions = {n.name for n in nodes if isinstance(n, ast.FunctionDef)}
        calls = [n for n in nodes if isinstance(n, ast.Call)]
        called = {c.func.id for c in calls if isinstance(c.func, ast.Name)}
        methods = {c.func.attr for c in calls if isinstance(c.func, ast.Attribute)}
        for function in (n for n in nodes if isinstance(n, ast.FunctionDef)):
            inner = {c.func.id for c in ast.walk(function) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)}
            if function.name in inner:
                return "recursion"
        if called & {"sorted", "max", "min"} or "sort" in methods:
            return "sorting_keys"
        if any(isinstance(n, (ast.ListComp, ast.GeneratorExp, ast.SetComp)) for n in nodes):
            return "comprehensions"
        if any(isinstance(n, (ast.Dict, ast.Set, ast.DictComp)) for n in nodes) or "set" in called or "get" in methods:
            return "dicts_sets"
        if any(isinstance(n, (ast.For, ast.While)) for n in nodes):
            return "loops_accumulators"
        if any(isinstance(n, (ast.If, ast.IfExp)) for n in nodes):
            return "conditionals"
        if any(isinstance(n, ast.Subscript) for n in nodes):
            return "indexing_slicing"
        if methods and functions:
            return "string_methods"
        return None

    def characters(self) -> str:
        return ALPHABET

    def build_heldout(self) -> dict[str, dict[str, list[Example]]]:
        return heldout_from_generators(self, self.heldout_size)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_known"] = {}  # recomputed as the generators write again; the sandbox pickles as settings
        return state
