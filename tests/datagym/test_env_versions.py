"""Env versions: v1 is the default, v0 stays registered and builds exactly what it always did."""

from __future__ import annotations

import copy
import pickle
from dataclasses import asdict

import gymnasium as gym
import pytest

import datagym
from datagym.registration import ARITHMETIC_VERSIONS, latest_env_ids, split_version
from datagym.students.transformer_student import (
    V0_SETTINGS,
    TransformerStudent,
    TransformerStudentConfig,
    TransformerStudentV0,
    v0_values,
)
from datagym.envs.arithmetic.task import ArithmeticTask


@pytest.fixture(scope="module")
def arithmetic_task():
    return ArithmeticTask()

#: the v0 student's settings as they were first released (before options were added later)
V0_RELEASED = {
    "n_layer": 2, "n_embd": 128, "n_head": 4, "learning_rate": 1e-3, "weight_decay": 0.0, "batch_size": 16,
    "epochs": 8, "replay": 1.0, "mode": "continual", "max_new_tokens": 8, "eval_batch_size": 1024,
    "torch_threads": 1, "reverse_digits": False,
}


def test_the_default_env_is_the_newest_skill_list_env():
    assert datagym.DEFAULT_ENV_ID == "datagym/Arithmetic-SkillList-v1"
    levels = ("SkillList", "OpenEnded", "SkillTree")
    assert latest_env_ids("arithmetic") == [f"datagym/Arithmetic-{level}-v1" for level in levels]
    assert latest_env_ids("code") == [f"datagym/Code-{level}-v0" for level in levels]
    assert latest_env_ids("reasoning_gym") == [f"datagym/ReasoningGym-{level}-v0" for level in levels]
    assert latest_env_ids("humaneval") == ["datagym/HumanEval-SkillList-v0", "datagym/HumanEval-OpenEnded-v0"]
    assert latest_env_ids("math") == ["datagym/MATH-SkillList-v0", "datagym/MATH-OpenEnded-v0"]
    assert latest_env_ids("gsm8k") == ["datagym/GSM8K-SkillList-v0", "datagym/GSM8K-OpenEnded-v0"]
    assert latest_env_ids() == (latest_env_ids("arithmetic") + latest_env_ids("code") + latest_env_ids("reasoning_gym")
                                + latest_env_ids("humaneval") + latest_env_ids("math") + latest_env_ids("gsm8k"))
    assert set(datagym.env_ids()) == set(latest_env_ids()) | {f"datagym/Arithmetic-{level}-v0" for level in levels}


@pytest.mark.parametrize("env_id, expected", [
    ("datagym/Arithmetic-SkillList-v1", ("datagym/Arithmetic-SkillList", 1)),
    ("mine/Strings-SkillList-v12", ("mine/Strings-SkillList", 12)),
    ("mine/Unversioned", ("mine/Unversioned", None)),
    ("mine/Odd-vX", ("mine/Odd-vX", None)),
])
def test_split_version(env_id, expected):
    assert split_version(env_id) == expected


def test_v0_envs_build_the_v0_student_and_budgets():
    env = gym.make("datagym/Arithmetic-SkillList-v0")
    unwrapped = env.unwrapped
    assert isinstance(unwrapped.student, TransformerStudentV0)
    config = asdict(unwrapped.student.config)
    assert {k: config[k] for k in V0_RELEASED} == V0_RELEASED
    # options added after the release keep the behaviour v0 had before they existed
    assert (config["batching"], config["fused_adamw"], config["lr_schedule"], config["alphabet"]) == (
        "length", False, "constant", None)
    assert (unwrapped.config.total_budget, unwrapped.config.step_budget) == (3840, 384)


def test_v1_envs_build_the_default_student_and_double_budgets():
    for level in ("SkillList", "OpenEnded", "SkillTree"):
        env = gym.make(f"datagym/Arithmetic-{level}-v1")
        unwrapped = env.unwrapped
        assert type(unwrapped.student) is TransformerStudent
        assert unwrapped.student.config == TransformerStudentConfig()
        assert (unwrapped.config.total_budget, unwrapped.config.step_budget) == (7680, 768)
    assert gym.make("datagym/Arithmetic-SkillTree-v1").unwrapped.expand_cost == 64


def test_v1_defaults_differ_from_v0_exactly_in_the_listed_settings():
    v1, v0 = asdict(TransformerStudentConfig()), asdict(TransformerStudentV0().config)
    assert {k for k in v1 if v1[k] != v0[k]} == set(V0_SETTINGS)
    assert v0 == v0_values()
    assert (v1["n_embd"], v1["batch_size"], v1["batching"], v1["fused_adamw"], v1["reverse_digits"],
            v1["torch_threads"]) == (64, 32, "mixed", True, True, "auto")


def test_options_given_to_the_v0_student_still_override_its_defaults():
    student = gym.make("datagym/Arithmetic-SkillList-v0", student_options={"epochs": 1, "n_embd": 64}).unwrapped.student
    assert (student.config.epochs, student.config.n_embd, student.config.batch_size) == (1, 64, 16)


def test_a_config_pickled_before_an_option_existed_reads_that_options_v0_value():
    config = TransformerStudentV0().config
    state = copy.copy(config.__dict__)
    for added_later in ("batching", "fused_adamw", "lr_schedule", "alphabet"):
        del state[added_later]
    old = pickle.loads(pickle.dumps(config))
    old.__dict__.clear()
    old.__setstate__(state)  # what unpickling a config from before these options does
    assert old == config
    assert old.batching == "length" and old.fused_adamw is False


def test_a_state_saved_before_an_option_existed_loads_into_the_v0_student(arithmetic_task):
    student = TransformerStudentV0(epochs=1)
    student.prepare(arithmetic_task)
    student.reset(0)
    state = student.state_dict()
    for added_later in ("batching", "fused_adamw", "lr_schedule", "alphabet"):
        del state["config"][added_later]
    fresh = TransformerStudentV0(epochs=1)
    fresh.prepare(arithmetic_task)
    fresh.load_state_dict(state)  # no ConfigError: the missing options are v0's
    with pytest.raises(datagym.errors.ConfigError, match="Expected a state saved by a student with config"):
        v1 = TransformerStudent(epochs=1)
        v1.prepare(arithmetic_task)
        v1.load_state_dict(state)


def test_every_arithmetic_version_is_registered_at_every_level():
    for version, kwargs in ARITHMETIC_VERSIONS.items():
        for level in ("SkillList", "OpenEnded", "SkillTree"):
            assert gym.spec(f"datagym/Arithmetic-{level}-v{version}").kwargs == kwargs
