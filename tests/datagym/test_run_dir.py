"""Run directories: atomic writes that never leave a torn or temporary file, JSON-safe values,
refusing to overwrite, and errors that say what was expected."""

from __future__ import annotations

import json
import math
import os
import re

import numpy as np
import pytest

from datagym import run_dir as run_dir_module
from datagym.errors import RunDirectoryError
from datagym.run_dir import (
    RunDirectory,
    _jsonable,
    atomic_write_json,
    atomic_write_jsonl,
    atomic_write_text,
    read_jsonl,
)


def _files(path):
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())


# -- JSON-safe values -----------------------------------------------------------------------
def test_jsonable_converts_numpy_tuples_keys_and_non_finite_floats():
    value = {
        "array": np.array([1.5, 2.5], dtype=np.float32),
        "int": np.int64(3),
        "float": np.float64(0.25),
        "nan": float("nan"),
        "np_nan": np.float32("nan"),
        "inf": float("inf"),
        "neg_inf": -np.inf,
        "nested": ({"t": (1, 2)}, [np.bool_(True)]),
        7: "int key",
    }
    out = _jsonable(value)
    assert out == {
        "array": [1.5, 2.5],
        "int": 3,
        "float": 0.25,
        "nan": None,
        "np_nan": None,
        "inf": None,
        "neg_inf": None,
        "nested": [{"t": [1, 2]}, [True]],
        "7": "int key",
    }
    json.dumps(out, allow_nan=False)  # strict JSON
    assert type(out["int"]) is int and type(out["float"]) is float


def test_atomic_write_json_writes_strict_json(tmp_path):
    path = tmp_path / "x.json"
    atomic_write_json(path, {"loss": float("nan"), "acc": np.array([0.5])})
    text = path.read_text()
    assert "NaN" not in text
    assert json.loads(text) == {"acc": [0.5], "loss": None}
    assert text.endswith("\n")


# -- atomic writes --------------------------------------------------------------------------
def test_atomic_write_text_creates_parents_and_replaces(tmp_path):
    path = tmp_path / "a" / "b" / "file.txt"
    atomic_write_text(path, "one")
    atomic_write_text(path, "two")
    assert path.read_text() == "two"
    assert _files(tmp_path) == ["a/b/file.txt"]


@pytest.mark.parametrize("failure", [OSError("disk full"), KeyboardInterrupt()], ids=["oserror", "interrupt"])
def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch, failure):
    path = tmp_path / "steps.jsonl"
    atomic_write_text(path, "old\n")

    def broken_fsync(fd):
        raise failure

    monkeypatch.setattr(run_dir_module.os, "fsync", broken_fsync)
    with pytest.raises(type(failure)):
        atomic_write_text(path, "new and longer\n")
    assert path.read_text() == "old\n"
    assert _files(tmp_path) == ["steps.jsonl"]


def test_a_failed_rename_leaves_no_file_at_all_for_a_new_path(tmp_path, monkeypatch):
    def broken_replace(src, dst):
        raise OSError("rename failed")

    monkeypatch.setattr(run_dir_module.os, "replace", broken_replace)
    with pytest.raises(OSError, match="rename failed"):
        atomic_write_text(tmp_path / "summary.json", "{}")
    assert _files(tmp_path) == []


def test_the_target_is_never_seen_half_written(tmp_path, monkeypatch):
    # While the new content is being written, the target still holds the old content in full.
    path = tmp_path / "config.json"
    atomic_write_text(path, "old")
    seen = []
    real_fsync = os.fsync

    def peeking_fsync(fd):
        seen.append(path.read_text())
        real_fsync(fd)

    monkeypatch.setattr(run_dir_module.os, "fsync", peeking_fsync)
    atomic_write_text(path, "new")
    assert seen == ["old"]
    assert path.read_text() == "new"


def test_unserialisable_data_writes_nothing(tmp_path):
    with pytest.raises(TypeError):
        atomic_write_json(tmp_path / "x.json", {"f": object()})
    with pytest.raises(TypeError):
        atomic_write_jsonl(tmp_path / "x.jsonl", [{"a": 1}, {"f": object()}])
    assert _files(tmp_path) == []


def test_jsonl_round_trip_and_blank_lines(tmp_path):
    path = tmp_path / "rows.jsonl"
    rows = [{"step": 1, "x": np.float64(0.5)}, {"step": 2, "x": float("nan")}]
    atomic_write_jsonl(path, rows)
    assert path.read_text().count("\n") == 2
    assert read_jsonl(path) == [{"step": 1, "x": 0.5}, {"step": 2, "x": None}]
    path.write_text('{"a": 1}\n\n  \n{"a": 2}\n')
    assert read_jsonl(path) == [{"a": 1}, {"a": 2}]
    assert read_jsonl(tmp_path / "missing.jsonl") == []


# -- RunDirectory ---------------------------------------------------------------------------
def test_create_makes_the_directory_and_writes_config_first(tmp_path):
    run = RunDirectory(tmp_path / "runs" / "one")
    run.create({"seed": 3, "env_id": "x"})
    assert _files(run.path) == ["config.json"]
    assert run.config() == {"seed": 3, "env_id": "x"}
    assert run.steps() == []
    assert run.summary() is None


def test_create_in_an_existing_empty_directory(tmp_path):
    RunDirectory(tmp_path).create({"seed": 0})
    assert RunDirectory(tmp_path).config() == {"seed": 0}


def test_create_refuses_a_directory_that_holds_files(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    expected = (
        f"Run directory {str(tmp_path)!r} already holds files; expected a new or empty directory. "
        f"Pick another --out, or pass overwrite=True (CLI: --overwrite)."
    )
    with pytest.raises(RunDirectoryError, match=re.escape(expected)):
        RunDirectory(tmp_path).create({"seed": 0})
    assert _files(tmp_path) == ["notes.txt"]


def test_create_refuses_to_overwrite_a_finished_run(tmp_path):
    run = RunDirectory(tmp_path)
    run.create({"seed": 0})
    run.write_steps([{"step": 1}])
    run.write_summary({"steps": 1})
    with pytest.raises(RunDirectoryError, match="already holds files"):
        RunDirectory(tmp_path).create({"seed": 1})
    assert run.config() == {"seed": 0}
    assert run.summary() == {"steps": 1}


def test_create_with_overwrite_clears_the_old_run(tmp_path):
    run = RunDirectory(tmp_path)
    run.create({"seed": 0})
    run.write_steps([{"step": 1}, {"step": 2}])
    run.write_step_data(1, [{"question": "1+1"}])
    run.write_step_data(2, [{"question": "1+2"}])
    run.write_summary({"steps": 2})
    run.create({"seed": 1}, overwrite=True)
    assert run.config() == {"seed": 1}
    assert run.steps() == []
    assert run.summary() is None
    assert run.step_data(1) == [] and run.step_data(2) == []
    assert [f for f in _files(tmp_path) if f.endswith(".jsonl")] == []


@pytest.mark.parametrize("method", ["config", "steps"])
def test_reading_a_directory_without_config_names_the_fix(tmp_path, method):
    missing = tmp_path / "nope"
    expected = (
        f"Expected a run directory with config.json at {str(missing)!r}; found none. "
        f"Make one with `datagym run --out DIR`."
    )
    with pytest.raises(RunDirectoryError, match=re.escape(expected)):
        getattr(RunDirectory(missing), method)()


def test_run_directory_error_is_a_runtime_error(tmp_path):
    with pytest.raises(RuntimeError):
        RunDirectory(tmp_path / "nope").require()


def test_step_data_files_are_numbered_with_four_digits(tmp_path):
    run = RunDirectory(tmp_path)
    run.create({})
    rows = [{"question": "1+1", "answer": "2", "verdict": "accepted"}]
    run.write_step_data(7, rows)
    run.write_step_data(123, [])
    assert (tmp_path / "data" / "step_0007.jsonl").exists()
    assert (tmp_path / "data" / "step_0123.jsonl").read_text() == ""
    assert run.step_data(7) == rows
    assert run.step_data(8) == []


def test_write_steps_rewrites_the_whole_file(tmp_path):
    run = RunDirectory(tmp_path)
    run.create({})
    run.write_steps([{"step": 1, "reward": 0.5}])
    run.write_steps([{"step": 1, "reward": 0.5}, {"step": 2, "reward": -math.inf}])
    assert run.steps() == [{"step": 1, "reward": 0.5}, {"step": 2, "reward": None}]


def test_create_on_a_path_that_is_a_file_raises_run_directory_error(tmp_path):
    path = tmp_path / "taken"
    path.write_text("a file, not a directory")
    with pytest.raises(RunDirectoryError, match=re.escape(str(path))):
        RunDirectory(path).create({})
