"""TransformerStudentConfig: defaults, and an error naming the field for every bad setting."""

from __future__ import annotations

import math

import pytest

from datagym.errors import ConfigError
from datagym.students.transformer_student import TransformerStudent, TransformerStudentConfig

POSITIVE_INTS = ("n_layer", "n_embd", "n_head", "batch_size", "epochs", "max_new_tokens", "eval_batch_size")


def test_defaults_are_valid_and_continual():
    config = TransformerStudentConfig()
    assert config.mode == "continual"
    assert TransformerStudent().config == config


def test_from_kwargs_sets_fields():
    config = TransformerStudentConfig.from_kwargs(n_layer=1, mode="retrain")
    assert (config.n_layer, config.mode) == (1, "retrain")


def test_bad_mode():
    with pytest.raises(ConfigError, match=r"Expected student mode one of \('continual', 'retrain'\), got 'online'\."):
        TransformerStudentConfig(mode="online")


@pytest.mark.parametrize("name", POSITIVE_INTS)
@pytest.mark.parametrize("value", [0, -2, 1.5, "4"])
def test_non_positive_or_non_integer_sizes(name, value):
    with pytest.raises(ConfigError, match=rf"Expected student {name} to be a positive integer, got {value!r}\."):
        TransformerStudentConfig(**{name: value})


def test_n_embd_must_divide_by_n_head():
    with pytest.raises(ConfigError, match=r"Expected n_embd divisible by n_head, got n_embd=30, n_head=4\."):
        TransformerStudentConfig(n_embd=30, n_head=4)


@pytest.mark.parametrize("lr", [0.0, -1e-3, math.inf, math.nan])
def test_learning_rate_must_be_positive_and_finite(lr):
    with pytest.raises(ConfigError, match=rf"Expected a positive learning_rate, got {lr!r}\."):
        TransformerStudentConfig(learning_rate=lr)


def test_torch_threads_must_not_be_negative():
    with pytest.raises(ConfigError, match=r"Expected torch_threads an integer >= 0 or 'auto', got -1\."):
        TransformerStudentConfig(torch_threads=-1)
    with pytest.raises(ConfigError, match=r"or 'auto', got 'all'\."):
        TransformerStudentConfig(torch_threads="all")


def test_unknown_options_are_named_with_the_known_ones():
    with pytest.raises(ConfigError, match=r"Unknown student option\(s\) \['layers'\]; expected some of \[.*'n_layer'.*\]\."):
        TransformerStudentConfig.from_kwargs(layers=2)
    with pytest.raises(ConfigError, match=r"Unknown student option\(s\) \['layers'\]"):
        TransformerStudent(layers=2)


def test_config_and_keyword_options_together_are_refused():
    with pytest.raises(ConfigError, match=r"Pass either a TransformerStudentConfig or keyword options, not both\."):
        TransformerStudent(TransformerStudentConfig(), n_layer=1)


@pytest.mark.parametrize("name", ["n_layer", "epochs", "torch_threads"])
def test_booleans_are_not_integers(name):
    # BUG: bool is an int subclass, so n_layer=True builds a 1-layer student and
    # torch_threads=False leaves threads alone. EnvConfig already rejects bools for its sizes.
    with pytest.raises(ConfigError, match=rf"student {name}|{name} an integer >= 0"):
        TransformerStudentConfig(**{name: True})


def test_a_learning_rate_that_is_not_a_number_is_a_config_error():
    # BUG: learning_rate="1e-3" (e.g. from a JSON or CLI string) raises a bare TypeError from
    # `"1e-3" > 0` instead of the ConfigError every other bad field gives.
    with pytest.raises(ConfigError, match=r"Expected a positive learning_rate, got '1e-3'\."):
        TransformerStudentConfig(learning_rate="1e-3")
