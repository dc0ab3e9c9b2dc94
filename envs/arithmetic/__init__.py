"""The Arithmetic task: procedural integer arithmetic, no downloads."""

from datagym.envs.arithmetic.task import ArithmeticTask

__all__ = ["ArithmeticTask"]
