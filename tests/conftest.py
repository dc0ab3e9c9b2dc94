"""Shared test settings: a tiny student and budget so an env step takes a fraction of a second."""

from __future__ import annotations

import pytest

import datagym  # noqa: F401  (registers the envs)

#: env keyword arguments that keep every env fast enough for the default suite
FAST_STUDENT = {"n_layer": 1, "n_embd": 32, "n_head": 2, "epochs": 1, "batch_size": 16}
FAST_ENV_KWARGS = {"total_budget": 96, "step_budget": 32, "student_options": FAST_STUDENT}


@pytest.fixture
def fast_env_kwargs() -> dict:
    """Fresh copy of the fast env options (tests may change it)."""
    return {"total_budget": 96, "step_budget": 32, "student_options": dict(FAST_STUDENT)}


def assert_generated_examples_fit_the_default_student(task, per_skill: int, answer_chars: int = 16) -> None:
    """Every generated example fits the default student's 128 positions (BOS, question, '=',
    answer of at most ``answer_chars``, EOS) and is written in the task's characters."""
    import numpy as np

    from datagym.students.char_tokenizer import CharTokenizer

    tokenizer = CharTokenizer(task.characters())
    rng = np.random.default_rng(2)
    for skill in task.skill_names:
        for _ in range(per_skill):
            ex = task.generate(skill, rng)
            assert len(ex.answer) <= answer_chars and len(ex.question) + len(ex.answer) + 3 <= 128, ex
            assert not tokenizer.unknown(ex.question + ex.answer), ex


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory):
    """A tiny Llama and its trained BPE tokenizer (with a chat template), saved with
    save_pretrained: a folder that loads by path as a user's model does."""
    from datagym.tiny_models import save_tiny_llama

    return save_tiny_llama(tmp_path_factory.mktemp("tiny_llama"))


@pytest.fixture
def scripted_server():
    """``scripted_server(script=(), default=..., latency=...)``: a started
    ``datagym.llm.scripted_server.ScriptedServer`` on 127.0.0.1, stopped after the test."""
    from datagym.llm.scripted_server import ScriptedServer

    servers = []

    def start(script=(), **kwargs):
        started = ScriptedServer(script, **kwargs).start()
        servers.append(started)
        return started

    yield start
    for started in servers:
        started.stop()


def _load_test_helper(name: str):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def math_files(tmp_path_factory):
    """{"math": path, "gsm8k": path}: small MATH- and GSM8K-format files for the math envs."""
    return _load_test_helper("math_files").write_math_files(tmp_path_factory.mktemp("math_files"))


@pytest.fixture(scope="session")
def math_task_options(math_files):
    """``math_task_options(env_id)``: the task options a MATH or GSM8K env needs in the tests
    (the small file written for it), None for every other env."""

    def options(env_id: str) -> dict | None:
        if env_id.startswith("datagym/MATH-"):
            return {"path": math_files["math"]}
        if env_id.startswith("datagym/GSM8K-"):
            return {"path": math_files["gsm8k"]}
        return None

    return options
