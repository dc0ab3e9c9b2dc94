"""Run directories: what one episode leaves on disk, written so a crash never half-writes a file.

Layout::

    RUN_DIR/
      config.json        env id and options, agent and options, seed, versions (written first)
      steps.jsonl        one JSON line per finished step (rewritten atomically each step)
      data/step_0001.jsonl  every example generated in step 1, with its verdict
      checkpoint.pkl     the state after the last finished step (env with its student and
                         random generators, agent, records); removed once summary.json exists
      summary.json       written last: its presence means the run finished

Every file is written to a temporary name and renamed into place, so a reader (or a resumed
run) sees either the old file or the new one, never a torn one.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, Iterable

from datagym.errors import RunDirectoryError

#: bumped when what a checkpoint holds changes
CHECKPOINT_FORMAT = 1


def _jsonable(value: Any) -> Any:
    """Make numpy scalars/arrays and non-finite floats JSON-safe (NaN becomes null)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; run files are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(_jsonable(data), indent=2, sort_keys=True) + "\n")


def atomic_write_jsonl(path: Path, rows: Iterable[Any]) -> None:
    atomic_write_text(path, "".join(json.dumps(_jsonable(r), sort_keys=True) + "\n" for r in rows))


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class RunDirectory:
    """Writes and reads one run directory."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def steps_path(self) -> Path:
        return self.path / "steps.jsonl"

    @property
    def summary_path(self) -> Path:
        return self.path / "summary.json"

    @property
    def data_dir(self) -> Path:
        return self.path / "data"

    @property
    def checkpoint_path(self) -> Path:
        return self.path / "checkpoint.pkl"

    def create(self, config: dict, overwrite: bool = False) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise RunDirectoryError(
                f"Expected {str(self.path)!r} to be a directory or not to exist; it is a file. Pick another --out."
            )
        if self.path.exists() and any(self.path.iterdir()):
            if not overwrite:
                raise RunDirectoryError(
                    f"Run directory {str(self.path)!r} already holds files; expected a new or empty "
                    f"directory. Pick another --out, or pass overwrite=True (CLI: --overwrite)."
                )
            for name in ("steps.jsonl", "summary.json", "config.json", "checkpoint.pkl"):
                (self.path / name).unlink(missing_ok=True)
            if self.data_dir.exists():
                for f in self.data_dir.glob("*.jsonl"):
                    f.unlink()
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.config_path, config)

    def write_steps(self, steps: list[dict]) -> None:
        atomic_write_jsonl(self.steps_path, steps)

    def write_step_data(self, step: int, examples: list[dict]) -> None:
        atomic_write_jsonl(self.data_dir / f"step_{step:04d}.jsonl", examples)

    def write_summary(self, summary: dict) -> None:
        atomic_write_json(self.summary_path, summary)

    def write_checkpoint(self, state: dict) -> None:
        """Pickle ``state`` (written after the step's data and steps.jsonl, so it never runs ahead)."""
        atomic_write_bytes(self.checkpoint_path, pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))

    def remove_checkpoint(self) -> None:
        self.checkpoint_path.unlink(missing_ok=True)

    def truncate(self, steps: list[dict]) -> None:
        """Make the directory say exactly ``steps``: drop later steps' lines and data files."""
        self.write_steps(steps)
        if self.data_dir.exists():
            for f in self.data_dir.glob("step_*.jsonl"):
                try:
                    n = int(f.stem.split("_")[1])
                except (IndexError, ValueError):
                    continue
                if n > len(steps):
                    f.unlink()

    # -- reading ----------------------------------------------------------------------------
    def require(self) -> None:
        if not self.config_path.exists():
            raise RunDirectoryError(
                f"Expected a run directory with config.json at {str(self.path)!r}; found none. "
                f"Make one with `datagym run --out DIR`."
            )

    def config(self) -> dict:
        self.require()
        return json.loads(self.config_path.read_text(encoding="utf-8"))

    def steps(self) -> list[dict]:
        self.require()
        return read_jsonl(self.steps_path)

    def summary(self) -> dict | None:
        if not self.summary_path.exists():
            return None
        return json.loads(self.summary_path.read_text(encoding="utf-8"))

    def checkpoint(self) -> dict | None:
        """The last checkpoint, None if the run never finished a step. Unpickles: only open
        run directories you (or your sweeps) wrote."""
        if not self.checkpoint_path.exists():
            return None
        try:
            state = pickle.loads(self.checkpoint_path.read_bytes())
        except Exception as exc:  # a checkpoint is written atomically; this is not one of ours
            raise RunDirectoryError(
                f"Expected a datagym checkpoint at {str(self.checkpoint_path)!r}, got one that does not "
                f"load ({type(exc).__name__}: {exc})."
            ) from exc
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise RunDirectoryError(
                f"Expected checkpoint format {CHECKPOINT_FORMAT} at {str(self.checkpoint_path)!r}, got "
                f"{state.get('format') if isinstance(state, dict) else type(state).__name__!r}."
            )
        return state

    def step_data(self, step: int) -> list[dict]:
        return read_jsonl(self.data_dir / f"step_{step:04d}.jsonl")
