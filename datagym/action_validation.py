"""Turning an incoming action value into a validated float64 array, or an InvalidActionError.

Every env level reads its actions through here, so the levels agree on what a number is.
Only real numbers are taken: Python ``bool``/``int``/``float`` and numpy bool, signed and
unsigned ints and floats of any width, as scalars inside (nested) lists and tuples or as
arrays. Everything else raises, before the env changes anything: ``None``, text (numeric
strings too), bytes, complex numbers, dates and durations, object arrays, ragged nesting,
dicts, torch tensors and other array types, and Python ints too large for a float.

Messages name what was expected, what came in and the fix, and never pass
``MAX_MESSAGE_LENGTH`` characters: whatever the action holds (a key of 100,000 characters,
a list of a million items) is shown through a shortened repr.
"""

from __future__ import annotations

import math

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from datagym.errors import InvalidActionError

#: no action error message is longer than this
MAX_MESSAGE_LENGTH = 300
#: numpy dtype kinds that hold real numbers: bool, signed int, unsigned int, float
REAL_KINDS = "biuf"
#: deeper nesting than this is refused before numpy sees it (numpy allows at most 64 dims)
MAX_NESTING = 32
#: lists and tuples holding more items than this (all levels together) are refused unread
MAX_ITEMS = 1_000_000
#: how many offending names (or name: value pairs, or dict keys) a message lists
MAX_LISTED_NAMES = 5
MAX_LISTED_VALUES = 3
MAX_LISTED_KEYS = 3
#: the fix a message gives for text where numbers belong
TEXT_FIX = "Pass numbers, not text."


# -- showing values briefly -----------------------------------------------------------------
def cut(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters (``...`` marks a cut)."""
    return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."


def short_repr(value: Any, limit: int = 60) -> str:
    """``repr(value)`` on one line (runs of whitespace, such as an array's line breaks, become
    one space), cut to at most ``limit`` characters (``...`` marks a cut). Never raises: a repr
    that fails (a broken ``__repr__``, an int past Python's digit limit) shows the type."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 (any failure of a user's __repr__ must not escape)
        text = f"<{type_name(value)} object>"
    head = text[: 4 * limit]
    flat = " ".join(head.split())
    if len(head) < len(text) or len(flat) > limit:
        return flat[: max(limit - 3, 0)] + "..."
    return flat


def type_name(value: Any, limit: int = 40) -> str:
    """The name of ``value``'s type, cut to ``limit`` characters. Types of other libraries
    carry their package (``torch.Tensor``); built-in and numpy types do not (``ndarray``)."""
    kind = type(value)
    name = getattr(kind, "__name__", "object")
    package = str(getattr(kind, "__module__", "") or "").split(".")[0]
    if package not in ("", "builtins", "numpy", "__main__"):
        name = f"{package}.{name}"
    return cut(name, limit)


def bounded_list(items: Sequence[str], limit: int) -> str:
    """``items`` (already reprs) shown as a list of at most ``limit`` of them and a count of the rest."""
    shown = ", ".join(items[:limit])
    more = len(items) - limit
    return f"[{shown}, ... ({more} more)]" if more > 0 else f"[{shown}]"


def name_list(names: Iterable[str]) -> str:
    """Offending skill or node names, as ``['a', 'b']``, at most ``MAX_LISTED_NAMES`` of them."""
    return bounded_list([short_repr(name, 32) for name in names], MAX_LISTED_NAMES)


def value_dict(pairs: Iterable[tuple[str, float]]) -> str:
    """Offending ``name: value`` pairs, as ``{'a': -0.5}``, at most ``MAX_LISTED_VALUES`` of them."""
    items = [f"{short_repr(name, 32)}: {value!r}" for name, value in pairs]
    shown = ", ".join(items[:MAX_LISTED_VALUES])
    more = len(items) - MAX_LISTED_VALUES
    return f"{{{shown}, ... ({more} more)}}" if more > 0 else f"{{{shown}}}"


def invalid(message: str) -> InvalidActionError:
    """An ``InvalidActionError`` of ``message``, cut to ``MAX_MESSAGE_LENGTH`` characters (the
    parts are bounded already; this is the guarantee)."""
    return InvalidActionError(cut(message, MAX_MESSAGE_LENGTH))


# -- what an action may be ------------------------------------------------------------------
def require_str(action: Any, expected: str, fix: str) -> str:
    """``action`` if it is a ``str``; else raise "Expected {expected}, got {type}: {repr}. {fix}"."""
    if isinstance(action, str):
        return action
    raise invalid(f"Expected {expected}, got {type_name(action)}: {short_repr(action)}. {fix}")


def require_dict(action: Any, keys: Sequence[str], *, why: str = "", fix: str) -> Mapping:
    """``action`` if it is a mapping with exactly the str ``keys``; else raise naming the
    keys expected, the keys given (shortened) and those missing or unexpected."""
    expected = sorted(keys)
    if not isinstance(action, Mapping):
        raise invalid(f"Expected a dict action with keys {expected}{why}, got {type_name(action)}. {fix}")
    given = list(action.keys())
    names = {k for k in given if isinstance(k, str)}  # no __eq__ of a user's key object runs
    missing = [k for k in expected if k not in names]
    unexpected = [k for k in given if not (isinstance(k, str) and k in expected)]
    if missing or unexpected:
        shown = sorted(short_repr(k, 20) for k in given)
        parts = [f"Expected action keys {expected}, got {bounded_list(shown, MAX_LISTED_KEYS)}."]
        if missing:
            parts.append(f"Missing: {missing}.")
        if unexpected:
            extra = sorted(short_repr(k, 20) for k in unexpected)
            parts.append(f"Unexpected: {bounded_list(extra, MAX_LISTED_KEYS)}.")
            if any(not isinstance(k, str) for k in unexpected):
                parts.append("Dict keys must be str.")
        raise invalid(" ".join(parts))
    return action


def _scalar_problem(item: Any) -> str | None:
    """Why ``item`` (an action, or a leaf of a list or tuple) is not a real number, or None."""
    if isinstance(item, (bool, float)):
        return None
    if isinstance(item, int):
        try:
            float(item)
        except OverflowError:
            return f"int too large for a float ({short_repr(item, 24)})"
        return None
    if isinstance(item, (np.generic, np.ndarray)):
        if item.dtype.kind in REAL_KINDS:
            return None
        return f"{type_name(item)} of dtype {cut(str(item.dtype), 24)}"
    return f"{type_name(item)}: {short_repr(item, 32)}"


def _fix_for(item: Any, default: str) -> str:
    """How to turn ``item`` (something refused) into numbers."""
    if isinstance(item, (str, bytes, bytearray)):
        return TEXT_FIX
    if type_name(item).startswith("torch."):
        return "Convert a torch tensor with .detach().cpu().numpy()."
    if hasattr(item, "__array__") and not isinstance(item, (np.ndarray, np.generic)):
        return "Convert it with np.asarray(...)."
    return default


def _nested_problem(value: list | tuple, default_fix: str) -> tuple[str, str] | None:
    """(why, fix) for the first item of the nested list or tuple ``value`` that is not a real
    number, or None when all are. Walks without recursion, within MAX_NESTING and MAX_ITEMS."""
    outer = type_name(value)
    stack: list[tuple[Any, int]] = [(value, 0)]
    seen = 0
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, tuple)):
            if depth >= MAX_NESTING:
                return f"{outer} nested more than {MAX_NESTING} deep", default_fix
            seen += len(item)
            if seen > MAX_ITEMS:
                return f"{outer} of more than {MAX_ITEMS} items", default_fix
            stack.extend((child, depth + 1) for child in reversed(item))
            continue
        problem = _scalar_problem(item)
        if problem is not None:
            return f"{outer} holding {problem}", _fix_for(item, default_fix)
        if isinstance(item, np.ndarray):
            seen += item.size
            if seen > MAX_ITEMS:
                return f"{outer} of more than {MAX_ITEMS} items", default_fix
    return None


def real_vector(value: Any, *, label: str, length: int, per: str, names_attr: str) -> np.ndarray:
    """``value`` as a new float64 array of shape ``(length,)``, or an ``InvalidActionError``.

    ``label`` names the value in messages (``"action"``, ``"action['weights']"``), ``per``
    says what each entry is (``"one weight per skill"``), ``names_attr`` where the entries'
    names are (``"env.unwrapped.skill_names"``). Only real numbers pass (see the module);
    NaN and infinity pass too: the caller's range checks name the entries that hold them.
    """
    shape_fix = f"Pass {per}: {names_attr}."
    expected = f"Expected {label} to be numbers (bool, int or float) of shape ({length},), got"
    found: tuple[str, str] | None = None
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in REAL_KINDS:
            found = f"dtype {cut(str(value.dtype), 24)}", shape_fix
    elif isinstance(value, (list, tuple)):
        found = _nested_problem(value, shape_fix)
    else:
        problem = _scalar_problem(value)
        if problem is not None:
            found = problem, _fix_for(value, shape_fix)
    if found is not None:
        raise invalid(f"{expected} {found[0]}. {found[1]}")
    if isinstance(value, np.ndarray) and value.dtype.itemsize <= 8:  # nothing to overflow: the common case, fast
        array = np.array(value, dtype=np.float64)
    else:
        with np.errstate(over="ignore", invalid="ignore"):  # a float128 beyond float64 becomes inf
            try:
                array = np.array(value, dtype=np.float64)
            except (ValueError, TypeError, OverflowError):  # all items are real: lists of different lengths
                raise invalid(
                    f"{expected} {type_name(value)} with ragged nesting (items of different lengths). {shape_fix}"
                ) from None
    if array.shape != (length,):
        raise invalid(f"Expected {label} of shape ({length},), got {short_repr(array.shape, 60)}. {shape_fix}")
    return array


# -- what the numbers may be ----------------------------------------------------------------
def require_finite(values: np.ndarray, names: Sequence[str], quantity: str) -> None:
    """Raise "Expected finite {quantity}, got NaN or infinity for [names]" if any value is not finite."""
    bad = ~np.isfinite(values)
    if bad.any():
        raise invalid(
            f"Expected finite {quantity}, got NaN or infinity for {name_list(names[i] for i in np.flatnonzero(bad))}."
        )


def require_non_negative(values: np.ndarray, names: Sequence[str], quantity: str) -> None:
    """Raise "Expected non-negative {quantity}, got negative ones: {name: value}" if any is negative."""
    bad = np.flatnonzero(values < 0)
    if len(bad):
        shown = value_dict((names[i], float(values[i])) for i in bad)
        raise invalid(f"Expected non-negative {quantity}, got negative ones: {shown}.")


def require_finite_non_negative(values: np.ndarray, names: Sequence[str], quantity: str) -> None:
    """``require_finite`` then ``require_non_negative``, with one quick check first for the
    common case where every value is fine (two reductions instead of four array passes: the
    Skill-List env's step, with the simulated student, is timed in microseconds)."""
    if values.size and np.minimum.reduce(values) >= 0.0 and math.isfinite(np.add.reduce(values)):
        return  # no NaN (the minimum would be NaN), no negative, no infinity
    require_finite(values, names, quantity)
    require_non_negative(values, names, quantity)


def require_within(values: np.ndarray, names: Sequence[str], quantity: str, low: float, high: float) -> None:
    """Raise "Expected {quantity} in [low, high], got {name: value}" if any value is outside."""
    bad = np.flatnonzero((values < low) | (values > high))
    if len(bad):
        shown = value_dict((names[i], float(values[i])) for i in bad)
        raise invalid(f"Expected {quantity} in [{low:g}, {high:g}], got {shown}.")


def require_binary(values: np.ndarray, names: Sequence[str], label: str) -> None:
    """Raise "Expected {label} to hold only 0 or 1, got {name: value}" if any value is neither."""
    bad = np.flatnonzero(~((values == 0) | (values == 1)))
    if len(bad):
        shown = value_dict((names[i], float(values[i])) for i in bad)
        raise invalid(f"Expected {label} to hold only 0 or 1, got {shown}.")
