"""A student that trains and answers in a Ray actor: ``student_resources`` of any env.

``gym.make(env_id, student_resources={"num_gpus": 1})`` puts the student (training,
prediction, loss) in a Ray actor holding those resources, so a GPU student sits on a GPU
worker while the env, its task and the teacher stay where they are. ``RemoteStudent`` has the
interface of ``datagym.student.Student`` and forwards every call to the actor.

It pickles like any student (the per-step checkpoint of a run pickles the env): pickling
fetches the actor's ``state_dict``; the copy makes its own actor on first use and loads that
state into it, so a resumed run goes on with the same weights, optimiser and random state.
The actor is made lazily, so building an env (to check its options, say) starts nothing.
On a CPU, the same seed gives the same results as the student built in-process.

The student is also built once in-process, without weights (students make their weights in
``reset``), so that bad options fail where the env is made (``datagym run`` and ``datagym
sweep`` report them before anything is written) and its config is known without a round trip.
A student whose constructor is heavy should defer that work to ``reset``.

``prepare(task)`` (the env calls it before the first ``reset``) runs on that in-process copy at
once, so a task the student cannot learn as configured fails where the env is made, and is
replayed on the actor when the actor is made (and on every actor a pickled copy makes), so the
actor's student gets the same vocabulary. The actor's student is prepared with a
``TaskSummary`` of the task (name, version, skill tree, characters), not the task itself: the
module of a user's task need not be importable on the Ray worker, and the held-out sets stay
with the env. ``unencodable`` is answered by the in-process copy.
"""

from __future__ import annotations

import copy
import logging
from typing import Any, Sequence

from datagym.errors import ConfigError
from datagym.ray_errors import ray_get
from datagym.student import Student
from datagym.types import Example

logger = logging.getLogger(__name__)

#: keys of ``student_resources``: the resource arguments of a Ray actor
RESOURCE_KEYS = ("num_cpus", "num_gpus", "memory", "resources", "accelerator_type")


def check_resources(resources: Any) -> dict:
    """``resources`` as a dict of Ray actor resource options; ConfigError naming what is wrong."""
    if not isinstance(resources, dict):
        raise ConfigError(
            f"Expected student_resources to be a dict like {{'num_cpus': 1, 'num_gpus': 0}} (or None for an "
            f"in-process student), got {resources!r}."
        )
    unknown = sorted(set(resources) - set(RESOURCE_KEYS))
    if unknown:
        raise ConfigError(f"Unknown student_resources key(s) {unknown}; expected some of {list(RESOURCE_KEYS)}.")
    for key in ("num_cpus", "num_gpus", "memory"):
        value = resources.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
            raise ConfigError(f"Expected student_resources[{key!r}] to be a number >= 0, got {value!r}.")
    extra = resources.get("resources")
    if extra is not None and not (
        isinstance(extra, dict) and all(isinstance(k, str) and isinstance(v, (int, float)) for k, v in extra.items())
    ):
        raise ConfigError(f"Expected student_resources['resources'] to map names to amounts, got {extra!r}.")
    if resources.get("accelerator_type") is not None and not isinstance(resources["accelerator_type"], str):
        raise ConfigError(
            f"Expected student_resources['accelerator_type'] to be a string, got {resources['accelerator_type']!r}."
        )
    return dict(resources)


class TaskSummary:
    """What a remote student's ``prepare`` gets in the actor: the task's ``name``, ``version``,
    ``skill_tree`` / ``skill_names``, ``characters()`` and ``answer_format``, computed in-process. Made of datagym
    types only, so it unpickles on any worker whatever module the task came from."""

    def __init__(self, task: Any) -> None:
        self.name = task.name
        self.version = task.version
        self.skill_tree = task.skill_tree
        self._characters = "".join(task.characters())
        self.answer_format = getattr(task, "answer_format", None)

    @property
    def skill_names(self) -> tuple[str, ...]:
        return self.skill_tree.leaves

    def characters(self) -> str:
        return self._characters

    def describe(self) -> dict:
        return {"name": self.name, "version": self.version, "skills": list(self.skill_names)}


class _StudentHost:
    """What runs inside the actor: the real student, built there (on the GPU if it has one)."""

    def __init__(self, name: str, options: dict) -> None:
        from datagym.registration import make_student

        self.student = make_student(name, **options)

    def call(self, method: str, *args: Any) -> Any:
        return getattr(self.student, method)(*args)


_actor_class = None


def _host_class():
    """The Ray actor class, made on first use so importing datagym never imports Ray."""
    global _actor_class
    if _actor_class is None:
        import ray

        _actor_class = ray.remote(_StudentHost)
    return _actor_class


class RemoteStudent(Student):
    """A ``Student`` proxy: the student named ``name`` lives in a Ray actor with ``resources``."""

    def __init__(self, name: str, options: dict | None = None, resources: dict | None = None) -> None:
        self.name = name
        self.options = dict(options or {})
        self.resources = check_resources(resources if resources is not None else {"num_cpus": 1})
        self._actor: Any = None
        self._pending_state: dict | None = None  # loaded into the actor when it is made
        self._task: TaskSummary | None = None  # what prepare() was given: replayed on the actor when it is made
        from datagym.registration import make_student

        # Checks the options; no weights until reset. Kept (weightless) for prepare and unencodable.
        self._local: Student = make_student(name, **self.options)
        self._described: tuple[str, Any] = (
            getattr(self._local, "mode", "continual"),
            getattr(self._local, "config", None),
        )

    # -- the actor ----------------------------------------------------------------------------
    def _handle(self) -> Any:
        if self._actor is None:
            import ray

            if not ray.is_initialized():
                ray.init()  # a local instance, or the cluster RAY_ADDRESS names
            options = {k: v for k, v in self.resources.items() if v is not None}
            self._actor = _host_class().options(**options).remote(self.name, self.options)
            logger.info("student %r in a Ray actor with %s", self.name, options)
            if self._task is not None:
                ray_get(self._actor.call.remote("prepare", self._task))
            if self._pending_state is not None:
                state, self._pending_state = self._pending_state, None
                ray_get(self._actor.call.remote("load_state_dict", state))
        return self._actor

    def _call(self, method: str, *args: Any) -> Any:
        return ray_get(self._handle().call.remote(method, *args))

    @property
    def mode(self) -> str:  # type: ignore[override]
        return self._described[0]

    @property
    def config(self) -> Any:
        """The student's config (what the run directory's config.json records)."""
        return self._described[1]

    def close(self) -> None:
        """Kill the actor now (otherwise Ray ends it once this proxy is garbage collected)."""
        if self._actor is not None:
            import ray

            ray.kill(self._actor)
            self._actor = None

    # -- the Student interface ----------------------------------------------------------------
    def prepare(self, task: Any) -> None:
        self._local.prepare(task)  # raises here, in-process, if the student cannot learn the task
        self._task = TaskSummary(task)
        if self._actor is not None:
            self._call("prepare", self._task)

    def unencodable(self, text: str) -> list[str]:
        return self._local.unencodable(text)

    def reset(self, seed: int) -> None:
        self._pending_state = None
        self._call("reset", int(seed))

    def train(self, examples: Sequence[Example]) -> dict[str, float]:
        return self._call("train", list(examples))

    def predict(self, questions: Sequence[str]) -> list[str]:
        return self._call("predict", list(questions))

    def loss(self, examples: Sequence[Example]) -> list[float]:
        return self._call("loss", list(examples))

    def state_dict(self) -> dict[str, Any]:
        if self._actor is None and self._pending_state is not None:
            return copy.deepcopy(self._pending_state)
        return self._call("state_dict")

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self._actor is None:
            self._pending_state = copy.deepcopy(state)  # no actor yet: load it when one is made
            return
        self._call("load_state_dict", state)

    # -- pickling (the run's checkpoint) --------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k != "_actor"}
        if self._actor is not None:
            try:
                state["_pending_state"] = self._call("state_dict")
            except RuntimeError as exc:
                if "no weights yet" not in str(exc):  # never reset: nothing to carry over
                    raise
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._actor = None

    def __repr__(self) -> str:
        return f"RemoteStudent({self.name!r}, resources={self.resources})"
