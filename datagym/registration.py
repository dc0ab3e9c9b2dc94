"""One registry: env ids, tasks and students by name, and ``package.module:Class`` lookup.

Env ids are ``datagym/<Task>-<Level>-v<N>``; entry points are strings and kwargs are
JSON-serialisable, so an env can be rebuilt anywhere from its spec (Ray workers included).
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from typing import Any

import gymnasium

from datagym.errors import ConfigError, UnknownNameError

NAMESPACE = "datagym"

TASKS: dict[str, str] = {
    "arithmetic": "datagym.envs.arithmetic.task:ArithmeticTask",
    "code": "datagym.envs.code.task:CodeTask",
    "reasoning_gym": "datagym.envs.reasoning_gym.task:ReasoningGymTask",
    "humaneval": "datagym.envs.humaneval.task:HumanEvalTask",
    "math": "datagym.envs.math.task:MathTask",
    "gsm8k": "datagym.envs.math.task:GSM8KTask",
}

STUDENTS: dict[str, str] = {
    "transformer": "datagym.students.transformer_student:TransformerStudent",
    # the v0 envs' student: the same class with V0_SETTINGS as defaults
    "transformer_v0": "datagym.students.transformer_student:TransformerStudentV0",
    # a calibrated model of the default student's learning, thousands of steps a second (for RL)
    "simulated": "datagym.students.simulated_student:SimulatedStudent",
    # any Hugging Face causal LM, full or LoRA (student_options={"model": hub id or folder})
    "hf": "datagym.students.hf_student:HFStudent",
}


@dataclass(frozen=True)
class EnvEntry:
    id: str
    entry_point: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    max_episode_steps: int | None = None
    description: str = ""
    #: how much structure the teacher gets: "skill_list", "open_ended" or "skill_tree"
    level: str = "skill_list"


#: The levels, each an env class that takes any task: (level, entry point, what it is).
LEVELS: tuple[tuple[str, str, str, str], ...] = (
    ("SkillList", "skill_list", "datagym.envs.skill_list_env:SkillListEnv",
     "per-skill accuracy in, per-skill data allocation out"),
    ("OpenEnded", "open_ended", "datagym.envs.open_ended_env:OpenEndedEnv",
     "the student's validation errors in, JSON problems to train on out"),
    ("SkillTree", "skill_tree", "datagym.envs.skill_tree_env:SkillTreeEnv",
     "a skill tree with difficulty bands uncovered by expanding nodes, data allocated over it"),
)

#: What each version of the Arithmetic envs is built with (the envs' docstrings keep the
#: history in words). v0: the first student (128 wide, length-bucketed batches of 16, answers
#: most-significant digit first, one thread) on 3840 examples, 384 a step. v1: the student's
#: current defaults (64 wide, mixed batches of 32, reversed answers, fused AdamW, "auto"
#: threads) on 7680 examples, 768 a step: uniform ends near 0.4 instead of 0.12, within 60 s.
ARITHMETIC_VERSIONS: dict[int, dict[str, Any]] = {
    0: {"task": "arithmetic", "student": "transformer_v0"},
    1: {"task": "arithmetic", "total_budget": 7680, "step_budget": 768},
}

#: What each version of the Code envs is built with. v0: 3840 examples, 384 a step (programs
#: are about 50 characters against arithmetic's 10, so a step trains about as long as a v1
#: arithmetic step on twice the data) and the default student, whose answers may be 16
#: characters long (a list of five numbers), written as they are (no reversal: not numbers).
CODE_VERSIONS: dict[int, dict[str, Any]] = {
    0: {
        "task": "code", "total_budget": 3840, "step_budget": 384,
        "student_options": {"max_new_tokens": 16, "reverse_digits": False},
    },
}

#: What each version of the ReasoningGym envs is built with. v0: six reasoning-gym datasets
#: (ReasoningGymTask's defaults), 3840 examples, 384 a step (questions are 50-110 characters, as
#: programs are), answers up to 16 characters written as they are.
REASONING_GYM_VERSIONS: dict[int, dict[str, Any]] = {
    0: {
        "task": "reasoning_gym", "total_budget": 3840, "step_budget": 384,
        "student_options": {"max_new_tokens": 16},
    },
}


#: What each version of the HumanEval envs is built with. v0: HumanEval's 164 problems split 39
#: training (data selection), 41 validation, 84 test; 640 examples, 64 a step. Meant for a
#: pretrained student (``student=``); the default character-level student runs (completions of
#: up to 384 characters, nine in ten of the canonical solutions' lengths, written as they are)
#: but cannot write a working function.
HUMANEVAL_VERSIONS: dict[int, dict[str, Any]] = {
    0: {
        "task": "humaneval", "total_budget": 640, "step_budget": 64,
        "student_options": {"max_new_tokens": 384, "reverse_digits": False},
    },
}


#: What each version of the MATH and GSM8K envs is built with: the user's files
#: (``task_options={"path": ...}``, required), 1920 examples, 192 a step, answers of up to 16
#: characters written as they are, for the default student; a pretrained student (``student="hf"``)
#: is what these are for.
MATH_VERSIONS: dict[int, dict[str, Any]] = {
    0: {
        "task": "math", "total_budget": 1920, "step_budget": 192,
        "student_options": {"max_new_tokens": 16, "reverse_digits": False},
    },
}
GSM8K_VERSIONS: dict[int, dict[str, Any]] = {0: {**MATH_VERSIONS[0], "task": "gsm8k"}}


def _task_envs(
    prefix: str, versions: dict[int, dict[str, Any]], what_task: str, levels: tuple[str, ...] | None = None
) -> tuple[EnvEntry, ...]:
    """The envs of one task at every level (or at ``levels``), for each of its versions, newest first."""
    return tuple(
        EnvEntry(
            id=f"{NAMESPACE}/{prefix}-{name}-v{version}",
            entry_point=entry_point,
            kwargs=dict(kwargs),
            max_episode_steps=20,
            description=f"{what_task}, {what}" if version == max(versions)
            else f"v{version} (kept for old runs): {what_task}, {what}",
            level=level,
        )
        for version, kwargs in sorted(versions.items(), reverse=True)
        for name, level, entry_point, what in LEVELS
        if levels is None or level in levels
    )


ENVS: tuple[EnvEntry, ...] = _task_envs("Arithmetic", ARITHMETIC_VERSIONS, "Arithmetic")
ENVS += _task_envs("Code", CODE_VERSIONS, "Code output prediction")
ENVS += _task_envs("ReasoningGym", REASONING_GYM_VERSIONS, "reasoning-gym puzzles")
# no Skill-Tree level: 39 training problems leave nothing to expand into difficulty bands
ENVS += _task_envs("HumanEval", HUMANEVAL_VERSIONS, "HumanEval code generation, graded by its tests",
                   levels=("skill_list", "open_ended"))
# math from the user's files: data selection gives no new problems to expand into bands
ENVS += _task_envs("MATH", MATH_VERSIONS, "MATH-format files (task_options path), math-verify",
                   levels=("skill_list", "open_ended"))
ENVS += _task_envs("GSM8K", GSM8K_VERSIONS, "GSM8K-format files (task_options path), math-verify",
                   levels=("skill_list", "open_ended"))

DEFAULT_ENV_ID = ENVS[0].id

#: seeds per agent and env of the committed leaderboard and of `datagym evaluate` (seeds 0..N-1):
#: the noise floor in benchmarks/README.md ("How many seeds") says why ten
PROTOCOL_SEEDS = 10


def load_object(path: str) -> Any:
    """Import ``package.module:Name`` (or ``package.module.Name``)."""
    if not isinstance(path, str) or not path:
        raise UnknownNameError(f"Expected 'package.module:Name', got {path!r}.")
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise UnknownNameError(f"Expected 'package.module:Name', got {path!r}.")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UnknownNameError(f"Cannot import module {module_name!r} for {path!r}: {exc}") from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise UnknownNameError(f"Module {module_name!r} has no {attr!r} (from {path!r}).") from None


def _resolve(kind: str, name: str, table: dict[str, str]) -> Any:
    if name in table:
        return load_object(table[name])
    if ":" in name:
        return load_object(name)
    raise UnknownNameError(
        f"Unknown {kind} {name!r}; expected one of {sorted(table)} or 'package.module:Class'."
    )


def check_options(kind: str, name: str, factory: Any, options: dict[str, Any]) -> None:
    """Raise ConfigError for keyword options ``factory`` does not take (unless it takes any),
    in the words every other unknown option gets: what came in and what is expected."""
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # a builtin or C type without a signature: let it decide
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return
    accepted = sorted(
        p.name for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY) and p.name != "self"
    )
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(f"Unknown {kind} option(s) {unknown} for {kind} {name!r}; expected some of {accepted}.")


def make_task(name: str, **kwargs: Any):
    factory = _resolve("task", name, TASKS)
    check_options("task", name, factory, kwargs)
    return factory(**kwargs)


def make_student(name: str, **kwargs: Any):
    factory = _resolve("student", name, STUDENTS)
    check_options("student", name, factory, kwargs)
    return factory(**kwargs)


def register_envs() -> None:
    """Register every datagym env with Gymnasium (idempotent)."""
    for entry in ENVS:
        if entry.id in gymnasium.registry:
            continue
        gymnasium.register(
            id=entry.id,
            entry_point=entry.entry_point,
            kwargs=dict(entry.kwargs),
            max_episode_steps=entry.max_episode_steps,
            # gymnasium.make_vec(id, num_envs=N): N sub-envs on N Ray actors (datagym.ray_vector_env)
            vector_entry_point=f"datagym.ray_vector_env:RayVectorEnv[{entry.id}]",
        )


def env_ids() -> list[str]:
    return [entry.id for entry in ENVS]


def split_version(env_id: str) -> tuple[str, int | None]:
    """``"datagym/Arithmetic-SkillList-v1"`` -> ``("datagym/Arithmetic-SkillList", 1)``; an id
    without a version gives ``(env_id, None)``."""
    name, sep, version = env_id.rpartition("-v")
    return (name, int(version)) if sep and version.isdigit() else (env_id, None)


#: the task of the committed leaderboard (benchmarks/make_leaderboard.sh, `datagym evaluate`)
LEADERBOARD_TASK = "arithmetic"


def latest_env_ids(task: str | None = None) -> list[str]:
    """The newest version of each registered datagym env, or of those of ``task`` (the committed
    leaderboard ranks the newest ``LEADERBOARD_TASK`` envs)."""
    newest: dict[str, tuple[int, str]] = {}
    for env_id in env_ids():
        if task is not None:
            entry = env_entry(env_id)
            if entry is None or entry.kwargs.get("task") != task:
                continue
        name, version = split_version(env_id)
        if name not in newest or (version or 0) > newest[name][0]:
            newest[name] = (version or 0, env_id)
    return [env_id for _, env_id in newest.values()]


def env_entry(env_id: str) -> EnvEntry | None:
    """The datagym entry of ``env_id``, None for an env registered by another package."""
    return next((entry for entry in ENVS if entry.id == env_id), None)


def teacher_env_class(env_id: str) -> type | None:
    """The ``TeacherEnv`` subclass a Gymnasium id is registered with, None if it is not a
    registered datagym env (a user's own id counts once its module is imported)."""
    from datagym.teacher_env import TeacherEnv

    spec = gymnasium.registry.get(env_id)
    if spec is None:
        return None
    entry_point = spec.entry_point
    try:
        cls = load_object(entry_point) if isinstance(entry_point, str) else entry_point
    except Exception:  # an entry point that does not import (a missing optional dependency...)
        return None
    return cls if isinstance(cls, type) and issubclass(cls, TeacherEnv) else None


def require_teacher_env(env_id: str) -> type:
    """The TeacherEnv class of ``env_id``, or UnknownNameError saying what the id is instead and
    how a user's own id becomes known (``--import`` its module)."""
    cls = teacher_env_class(env_id)
    if cls is not None:
        return cls
    known = ", ".join(teacher_env_ids())
    if env_id in gymnasium.registry:
        raise UnknownNameError(f"--env: expected a datagym env (a TeacherEnv; one of: {known}), got {env_id!r}, "
                               f"which is another kind of Gymnasium env.")
    raise UnknownNameError(f"--env: unknown env {env_id!r}; expected one of: {known}. Your own env id: --import "
                           f"the module that registers it (e.g. --import mytasks).")


def env_level(env_id: str) -> str:
    """The level (``skill_list``, ``open_ended``, ``skill_tree``) of a datagym env id or of a
    user's id registered with a TeacherEnv; ``skill_list`` for an id that is neither."""
    entry = env_entry(env_id)
    if entry is not None:
        return entry.level
    cls = teacher_env_class(env_id)
    return cls.level if cls is not None else "skill_list"


def teacher_env_ids() -> list[str]:
    """Every registered Gymnasium id whose env is a datagym TeacherEnv: datagym's own first,
    then those of other packages and of the user's imported modules."""
    ours = env_ids()
    # Gymnasium's own envs are never TeacherEnvs; skipping them spares importing all of them.
    candidates = [
        i for i, spec in gymnasium.registry.items()
        if i not in ours and not (isinstance(spec.entry_point, str) and spec.entry_point.startswith("gymnasium."))
    ]
    others = sorted(i for i in candidates if teacher_env_class(i) is not None)
    return ours + others
