"""Getting results back from Ray with the caller's own exceptions.

Ray wraps an exception raised inside a task or actor in ``RayTaskError``. A user of the vector
env or the remote student expects the exception the env or student itself raised (an
``InvalidActionError`` or a ``ConfigError``), so the wrapped cause is re-raised, chained to
Ray's error for the remote traceback.
"""

from __future__ import annotations

from typing import Any


def ray_get(refs: Any) -> Any:
    """``ray.get(refs)``, raising the remote side's own exception instead of ``RayTaskError``."""
    import ray

    try:
        return ray.get(refs)
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, BaseException):
            raise cause from exc
        raise
