"""The registry: env ids, tasks and students by name, and 'package.module:Class' lookup."""

from __future__ import annotations

import json
import re

import gymnasium as gym
import pytest

import datagym
from datagym import registration
from datagym.envs.arithmetic.task import ArithmeticTask
from datagym.errors import ConfigError, UnknownNameError
from datagym.registration import (
    ENVS,
    STUDENTS,
    TASKS,
    env_ids,
    load_object,
    make_student,
    make_task,
    register_envs,
)
from datagym.students.transformer_student import TransformerStudent


# -- load_object ----------------------------------------------------------------------------
def test_load_object_accepts_colon_and_dotted_paths():
    assert load_object("json:dumps") is json.dumps
    assert load_object("json.dumps") is json.dumps
    assert load_object("datagym.envs.arithmetic.task:ArithmeticTask") is ArithmeticTask
    assert load_object("os.path:join") is __import__("os").path.join


@pytest.mark.parametrize("bad", ["", None, 3, "nodots", ":Name", "json:", "."])
def test_load_object_refuses_malformed_paths(bad):
    with pytest.raises(UnknownNameError, match=re.escape(f"Expected 'package.module:Name', got {bad!r}.")):
        load_object(bad)


def test_load_object_names_a_module_that_cannot_be_imported():
    with pytest.raises(UnknownNameError, match=re.escape("Cannot import module 'no_such_module_xyz' for 'no_such_module_xyz:Thing': ")):
        load_object("no_such_module_xyz:Thing")
    with pytest.raises(UnknownNameError, match=re.escape("Cannot import module 'json.nope' for 'json.nope.x'")):
        load_object("json.nope.x")


def test_load_object_names_a_missing_attribute():
    with pytest.raises(UnknownNameError, match=re.escape("Module 'json' has no 'nope' (from 'json:nope').")):
        load_object("json:nope")


def test_unknown_name_error_is_a_key_error_with_a_readable_message():
    with pytest.raises(KeyError) as excinfo:
        load_object("json:nope")
    assert str(excinfo.value) == "Module 'json' has no 'nope' (from 'json:nope')."
    assert str(UnknownNameError()) == ""


# -- tasks and students by name -------------------------------------------------------------
def test_make_task_by_name_and_by_path():
    assert isinstance(make_task("arithmetic"), ArithmeticTask)
    task = make_task("datagym.envs.arithmetic.task:ArithmeticTask", heldout_size=3)
    assert isinstance(task, ArithmeticTask) and task.heldout_size == 3


def test_make_task_passes_options_and_their_errors_through():
    with pytest.raises(ConfigError, match="heldout_size"):
        make_task("arithmetic", heldout_size=0)


def test_make_student_by_name():
    student = make_student("transformer", n_layer=1, n_embd=32, n_head=2)
    assert isinstance(student, TransformerStudent)
    assert student.config.n_embd == 32


@pytest.mark.parametrize(
    "make, kind, table",
    [(make_task, "task", TASKS), (make_student, "student", STUDENTS)],
    ids=["task", "student"],
)
def test_unknown_names_are_refused_with_the_choices(make, kind, table):
    expected = f"Unknown {kind} 'nope'; expected one of {sorted(table)} or 'package.module:Class'."
    with pytest.raises(UnknownNameError, match=re.escape(expected)):
        make("nope")


def test_unknown_path_for_a_task_is_refused():
    with pytest.raises(UnknownNameError, match=re.escape("Module 'json' has no 'Nope'")):
        make_task("json:Nope")


def test_unknown_task_in_env_options_is_refused(fast_env_kwargs):
    with pytest.raises(UnknownNameError, match=re.escape("Unknown task 'algebra'")):
        gym.make(datagym.DEFAULT_ENV_ID, **{**fast_env_kwargs, "task": "algebra"})


def test_every_registered_entry_point_resolves():
    for path in [*TASKS.values(), *STUDENTS.values(), *(e.entry_point for e in ENVS)]:
        assert isinstance(load_object(path), type), path


# -- envs -----------------------------------------------------------------------------------
def test_env_ids_are_registered_with_gymnasium():
    assert env_ids() == [e.id for e in ENVS]
    assert datagym.DEFAULT_ENV_ID == env_ids()[0]
    for entry in ENVS:
        spec = gym.spec(entry.id)
        assert spec.entry_point == entry.entry_point
        assert spec.kwargs == entry.kwargs
        assert spec.max_episode_steps == entry.max_episode_steps
        assert entry.description


def test_register_envs_is_idempotent():
    before = {k: v for k, v in gym.registry.items() if k.startswith(registration.NAMESPACE + "/")}
    register_envs()
    register_envs()
    after = {k: v for k, v in gym.registry.items() if k.startswith(registration.NAMESPACE + "/")}
    assert after == before
    assert set(after) == set(env_ids())


def test_registry_kwargs_are_not_shared_with_the_table():
    spec = gym.spec(datagym.DEFAULT_ENV_ID)
    assert spec.kwargs is not ENVS[0].kwargs
