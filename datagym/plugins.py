"""A user's own modules: found and imported so their tasks, envs and agents can be named.

A user's env id (``gym.register("mine/Strings-SkillList-v0", ...)``) exists only once the
module that registers it is imported. Three ways in, all ending here:

- ``--import mymodule`` on the command line (repeatable), or ``import_modules(["mymodule"])``;
- the ``datagym.plugins`` entry-point group of an installed package: each entry point names a
  module, imported by every ``datagym`` command (``load_entry_points``);
- a ``package.module:Class`` name (task, student, agent), imported where it is used.

The current directory is put on ``sys.path`` first, as ``python -m datagym`` does, so that the
``datagym`` script finds a module next to the user just as ``python -m`` does. A run records
the modules it imported and where each came from (``config.json``'s ``imports``), so that
``--resume`` and the workers of a sweep import them again before they rebuild the env.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from importlib import metadata
from pathlib import Path
from typing import Iterable, Sequence

from datagym.errors import UnknownNameError

logger = logging.getLogger(__name__)

#: the entry-point group whose modules every datagym command imports
ENTRY_POINT_GROUP = "datagym.plugins"


def current_directory_on_path() -> None:
    """Put the current directory on ``sys.path`` (first) unless it is there already."""
    cwd = os.getcwd()
    if not any(_same_dir(entry, cwd) for entry in sys.path):
        sys.path.insert(0, cwd)


def _same_dir(entry: str, directory: str) -> bool:
    try:
        return os.path.samefile(entry or ".", directory)
    except OSError:
        return False


def import_modules(modules: Iterable[str], paths: Sequence[str] = ()) -> list[dict]:
    """Import each module (``paths`` and the current directory first on ``sys.path``); return
    what to record for each: ``{"module": name, "path": the sys.path entry it came from}``.

    Raises ``UnknownNameError`` naming the module, the directories searched and the fix."""
    current_directory_on_path()
    for path in reversed(list(paths)):
        if path and not any(_same_dir(entry, path) for entry in sys.path):
            sys.path.insert(0, path)
    recorded = []
    for name in modules:
        if not isinstance(name, str) or not name.strip():
            raise UnknownNameError(f"--import: expected a module name like 'mytasks', got {name!r}.")
        name = name.strip()
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise UnknownNameError(
                f"--import: cannot import module {name!r} ({exc}); expected a module on the Python path "
                f"(the current directory {os.getcwd()!r} is on it). Run from the directory that holds "
                f"{name.split('.')[0]}.py, or install its package."
            ) from None
        recorded.append({"module": name, "path": _root_of(module, name)})
    return recorded


def _root_of(module: object, name: str) -> str | None:
    """The ``sys.path`` entry ``module`` was imported from (None for built-in or namespace ones)."""
    file = getattr(module, "__file__", None)
    if not file:
        return None
    path = Path(file).resolve().parent
    depth = name.count(".") + (1 if Path(file).name == "__init__.py" else 0)
    for _ in range(depth):
        path = path.parent
    return str(path)


def reimport(recorded: Iterable[dict] | None) -> None:
    """Import again what a run recorded (``config.json``'s ``imports``), from the same places."""
    recorded = list(recorded or [])
    if recorded:
        import_modules([r["module"] for r in recorded], [r["path"] for r in recorded if r.get("path")])


def load_entry_points() -> list[str]:
    """Import the module of every ``datagym.plugins`` entry point; return their names. A
    plugin that fails to import is logged (one line naming it and why) and skipped."""
    loaded = []
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            importlib.import_module(entry.value.partition(":")[0])
        except Exception as exc:  # a broken plugin must not stop every datagym command
            logger.warning("plugin %r (%s) failed to import and is skipped: %s: %s",
                           entry.name, entry.value, type(exc).__name__, exc)
            continue
        loaded.append(entry.name)
    return loaded
