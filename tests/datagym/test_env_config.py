"""EnvConfig: defaults, validation with messages that name the fix, and kwargs splitting."""

from __future__ import annotations

import inspect
import json
import re

import pytest

from datagym.env_config import EnvConfig
from datagym.errors import ConfigError


def test_defaults_are_valid_and_json():
    config = EnvConfig()
    assert config.step_budget <= config.total_budget
    assert config.task == "arithmetic" and config.student == "transformer"
    assert config.timings is True
    data = config.to_json()
    assert json.loads(json.dumps(data)) == data
    assert EnvConfig(**data) == config


def test_option_dicts_are_not_shared_between_instances():
    a, b = EnvConfig(), EnvConfig()
    a.task_options["x"] = 1
    assert b.task_options == {}


def test_field_names():
    assert EnvConfig.field_names() == [
        "task", "task_options", "student", "student_options", "student_resources", "engine", "engine_options",
        "step_budget", "total_budget", "timings",
    ]


def test_every_field_has_a_one_line_help():
    source = inspect.getsource(EnvConfig)
    for name in EnvConfig.field_names():
        line = next(line for line in source.splitlines() if line.strip().startswith(f"{name}:"))
        assert re.search(r"#\s*\S", line), f"field {name} has no help comment"


@pytest.mark.parametrize("field", ["step_budget", "total_budget"])
@pytest.mark.parametrize("bad", [0, -5, 1.5, "10", True, None])
def test_budgets_must_be_positive_integers(field, bad):
    kwargs = {"step_budget": 1, "total_budget": 10, field: bad}
    with pytest.raises(ConfigError, match=re.escape(f"Expected {field} to be a positive integer, got {bad!r}.")):
        EnvConfig(**kwargs)


def test_step_budget_over_total_budget_names_the_fix():
    expected = "step_budget (100) exceeds total_budget (50); lower step_budget or raise total_budget."
    with pytest.raises(ConfigError, match=re.escape(expected)):
        EnvConfig(step_budget=100, total_budget=50)
    assert EnvConfig(step_budget=50, total_budget=50).step_budget == 50


@pytest.mark.parametrize("field", ["task_options", "student_options"])
def test_option_fields_must_be_dicts(field):
    with pytest.raises(ConfigError, match=re.escape(f"Expected {field} to be a dict, got [1]")):
        EnvConfig(**{field: [1]})


def test_config_error_is_a_value_error():
    with pytest.raises(ValueError):
        EnvConfig(step_budget=0)


def test_from_kwargs_splits_known_and_extra_fields():
    config, extra = EnvConfig.from_kwargs(("difficulty",), step_budget=8, total_budget=16, difficulty=True)
    assert (config.step_budget, config.total_budget) == (8, 16)
    assert extra == {"difficulty": True}
    config, extra = EnvConfig.from_kwargs()
    assert config == EnvConfig() and extra == {}


def test_from_kwargs_refuses_unknown_options_and_lists_the_known_ones():
    known = sorted(EnvConfig.field_names() + ["difficulty"])
    expected = f"Unknown env option(s) ['budget', 'seed']; expected some of {known}."
    with pytest.raises(ConfigError, match=re.escape(expected)):
        EnvConfig.from_kwargs(("difficulty",), seed=1, budget=3, step_budget=2)


def test_from_kwargs_still_validates():
    with pytest.raises(ConfigError, match="exceeds total_budget"):
        EnvConfig.from_kwargs(step_budget=20, total_budget=10)
