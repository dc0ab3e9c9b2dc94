"""Settings shared by every datagym env, as a dataclass with a one-line help per field."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from datagym.errors import ConfigError


@dataclass
class EnvConfig:
    """What every TeacherEnv is built from. Defaults finish a 10-step episode on a CPU in a minute."""

    task: str = "arithmetic"  # task name (see `datagym list`) or 'package.module:Class'
    task_options: dict = field(default_factory=dict)  # keyword arguments of the task
    student: str = "transformer"  # student name or 'package.module:Class'
    student_options: dict = field(default_factory=dict)  # keyword arguments of the student
    student_resources: dict | None = None  # e.g. {"num_cpus": 1, "num_gpus": 1}: the student runs in a Ray actor with these
    engine: str = "procedural"  # what turns plans into examples: procedural (the task's generators), llm, or 'package.module:Class'
    engine_options: dict = field(default_factory=dict)  # keyword arguments of the engine (llm: base_url, model, ...)
    step_budget: int = 384  # examples the teacher may generate in one step
    total_budget: int = 3840  # examples over the whole episode; spent, the episode terminates
    timings: bool = True  # put wall-clock seconds in info (time/...); they differ run to run

    def __post_init__(self) -> None:
        for name in ("step_budget", "total_budget"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"Expected {name} to be a positive integer, got {value!r}.")
        if self.step_budget > self.total_budget:
            raise ConfigError(
                f"step_budget ({self.step_budget}) exceeds total_budget ({self.total_budget}); "
                f"lower step_budget or raise total_budget."
            )
        for name in ("task_options", "student_options", "engine_options"):
            if not isinstance(getattr(self, name), dict):
                raise ConfigError(f"Expected {name} to be a dict, got {getattr(self, name)!r}.")
        if not isinstance(self.engine, str) or not self.engine:
            raise ConfigError(f"Expected engine to be an engine name ('procedural', 'llm') or 'package.module:Class', "
                              f"got {self.engine!r}.")
        if self.student_resources is not None:
            from datagym.remote_student import check_resources

            self.student_resources = check_resources(self.student_resources)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_kwargs(cls, extra_fields: tuple[str, ...] = (), **kwargs: Any) -> tuple["EnvConfig", dict]:
        """Split kwargs into this config and the fields a subclass env declared; raise on others."""
        known = set(cls.field_names())
        unknown = sorted(set(kwargs) - known - set(extra_fields))
        if unknown:
            raise ConfigError(
                f"Unknown env option(s) {unknown}; expected some of {sorted(known | set(extra_fields))}."
            )
        config = cls(**{k: v for k, v in kwargs.items() if k in known})
        return config, {k: v for k, v in kwargs.items() if k not in known}

    def to_json(self) -> dict:
        return asdict(self)
