"""The one place datagym's exceptions live.

Every error says what was expected, what was received, and how to fix it. They subclass the
built-in exception a caller would naturally catch (``ValueError``, ``KeyError``...), so code
that does not know datagym still handles them.
"""

from __future__ import annotations


class DatagymError(Exception):
    """Base class of every error datagym raises on purpose."""


class InvalidActionError(DatagymError, ValueError):
    """An env was given an action it cannot carry out. The env stays usable."""


class ConfigError(DatagymError, ValueError):
    """A configuration field is unknown, out of range, or contradicts another."""


class UnknownNameError(DatagymError, KeyError):
    """A name (env id, agent, task, student) is not registered."""

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0]) if self.args else ""


class OracleError(DatagymError, ValueError):
    """The task's oracle cannot parse or label a question."""


class RunDirectoryError(DatagymError, RuntimeError):
    """A run directory is missing, incomplete, or would be overwritten."""


class TaskCheckError(DatagymError, ValueError):
    """A task breaks the Task contract. Raised by ``datagym.testing.check_task``; the message
    names the check, what was expected, what came in, an offending example and the fix, and
    ``check`` holds the check's name."""

    def __init__(self, message: str, check: str = "") -> None:
        super().__init__(message)
        self.check = check
