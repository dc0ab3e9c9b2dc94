"""The LLM agents and engine against a real model server: ``transformers serve`` on 127.0.0.1 with
a tiny Llama built from a config and saved locally. The protocol is real and the text is noise,
so what is checked is that every failure is counted and every episode finishes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import gymnasium as gym
import pytest

import datagym  # noqa: F401
from datagym.agents import make_agent
from datagym.runner import run_episode

pytestmark = pytest.mark.slow

FAST = {"total_budget": 32, "step_budget": 16,
        "student_options": {"n_layer": 1, "n_embd": 32, "n_head": 2, "epochs": 1, "batch_size": 16}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served_model(tiny_llama_dir):
    pytest.importorskip("fastapi", reason="transformers serve needs the serving extra (fastapi, uvicorn)")
    pytest.importorskip("uvicorn", reason="transformers serve needs the serving extra (fastapi, uvicorn)")
    port = _free_port()
    command = [sys.executable, "-m", "transformers.cli.transformers", "serve", str(tiny_llama_dir),
               "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            if process.poll() is not None:
                pytest.fail(f"transformers serve exited: {process.stdout.read()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=1):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("transformers serve did not answer /health within 120 s")
        yield f"{url}/v1", str(tiny_llama_dir)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.mark.parametrize("env_id, agent_name", [("datagym/Arithmetic-OpenEnded-v1", "llm_open_ended"),
                                                ("datagym/Arithmetic-SkillList-v1", "llm_skill_list"),
                                                ("datagym/Arithmetic-SkillTree-v1", "llm_skill_tree")])
def test_every_llm_agent_finishes_an_episode_against_a_real_server(served_model, tmp_path, env_id, agent_name):
    base_url, model = served_model
    env = gym.make(env_id, **FAST)
    options = {"base_url": base_url, "model": model, "max_tokens": 24, "timeout": 120, "max_retries": 1,
               "backoff": 0.1, "cache_dir": str(tmp_path / "cache"), "concurrency": 2}
    agent = make_agent(agent_name, env, **options)
    summary = run_episode(env, agent, seed=0, out_dir=str(tmp_path / "run"), agent_options=options)
    env.close()
    llm = summary["teacher_llm"]
    assert summary["steps"] >= 1 and llm["requests"] >= 1
    assert llm["replies"] + sum(llm["failures"].values()) >= 1
    assert llm["completion_tokens"] > 0 or llm["failures"]  # the model wrote something, or its failures are counted
    steps = [json.loads(line) for line in (tmp_path / "run" / "steps.jsonl").read_text().splitlines()]
    assert all("teacher/llm_failures" in step for step in steps)


def test_the_llm_engine_finishes_a_step_against_a_real_server(served_model, tmp_path):
    base_url, model = served_model
    env = gym.make("datagym/Arithmetic-SkillList-v1", engine="llm",
                   engine_options={"base_url": base_url, "model": model, "max_tokens": 24, "timeout": 120,
                                   "max_retries": 1, "cache_dir": str(tmp_path / "cache")}, **FAST)
    import numpy as np

    env.reset(seed=0)
    _, _, _, _, info = env.step(np.ones(15, dtype=np.float32))
    assert info["teacher/generated"] == 16 and info["engine/llm_requests"] >= 1
    assert sum(info["teacher/rejected"].values()) + info["teacher/accepted"] == 16
    env.close()
