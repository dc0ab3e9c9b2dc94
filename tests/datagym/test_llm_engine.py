"""The LLM engine against a scripted OpenAI-protocol server on 127.0.0.1: plans turned into
problems at every level, the oracle's verdicts, duplicates and near-duplicates of held-out and
earlier questions dropped and counted, failures charged and counted, and cache replay."""

from __future__ import annotations

import json
import pickle
import re

import gymnasium as gym
import numpy as np
import pytest

import datagym  # noqa: F401
from datagym.errors import ConfigError, UnknownNameError
from datagym.llm.scripted_server import Reply, Status
from datagym.llm_engine import SeenQuestions, rouge_l, tokens

FAST = {"total_budget": 64, "step_budget": 32,
        "student_options": {"n_layer": 1, "n_embd": 32, "n_head": 2, "epochs": 1, "batch_size": 16}}


def writer(messages: list[dict]) -> str:
    """Sums with their answers; the first problem of each request one answer off, the second with
    no answer, and the third a copy of the first example shown."""
    prompt = messages[-1]["content"]
    count = int(re.search(r"Write (\d+) new problems", prompt).group(1))
    shown = re.findall(r"- question: (.*)\n  answer: (.*)", prompt)
    seed = sum(map(ord, prompt)) % 97
    problems = []
    for i in range(count):
        a, b = 100 + seed + 13 * i, 200 + 7 * i
        problems.append({"question": f"{a}+{b}", "answer": str(a + b)})
    problems[0]["answer"] = str(int(problems[0]["answer"]) + 1)
    if count > 1:
        del problems[1]["answer"]
    if count > 2:
        problems[2] = {"question": shown[0][0], "answer": shown[0][1]}
    return json.dumps({"problems": problems})


def _env(s, tmp_path, env_id="datagym/Arithmetic-SkillList-v1", env_options=None, **options):
    engine_options = {"base_url": s.url, "model": "scripted", "cache_dir": str(tmp_path / "cache"), "backoff": 0.01,
                      **options}
    return gym.make(env_id, engine="llm", engine_options=engine_options, **FAST, **(env_options or {}))


def test_rouge_l_and_the_near_duplicate_filter():
    assert rouge_l(tokens("the cat sat"), tokens("the cat sat")) == 1.0
    assert rouge_l(tokens("a b c d"), tokens("a c d e")) == pytest.approx(2 * 3 / 8)
    assert rouge_l([], ["a"]) == 0.0
    seen = SeenQuestions(0.95)
    long = " ".join(f"word{i}" for i in range(40))
    seen.add(long)
    seen.add("12+7")
    assert seen.verdict(" 12 + 7 ") == "duplicate"  # whitespace aside
    assert seen.verdict("12+7") == "duplicate"
    assert seen.verdict(long.replace("word7", "other")) == "near_duplicate"  # 39 of 40 tokens: F = 0.975
    assert seen.verdict(" ".join(f"word{i}" for i in range(30))) is None  # F = 60 / 70
    assert seen.verdict("13+7") is None


def test_a_skill_list_plan_is_written_by_the_llm_and_verified_by_the_oracle(scripted_server, tmp_path):
    s = scripted_server(default=Reply(writer))
    env = _env(s, tmp_path)
    env.reset(seed=0)
    action = np.zeros(15, dtype=np.float32)
    action[0] = 1.0  # all 32 on add_no_carry: 4 requests of 8
    _, _, _, _, info = env.step(action)
    assert info["engine/llm_requests"] == 4 == len(s.requests)
    assert info["teacher/generated"] == 32
    # per request: one wrong answer, one copy of a shown generator example (not held out, so only
    # a duplicate when it repeats one); the one without an answer is labelled by the oracle
    assert info["teacher/rejected"]["wrong_answer"] == 4
    examples = env.unwrapped.last_examples
    assert sum(ex.provenance.get("answer_from") == "oracle" for ex in examples) == 4
    accepted = [ex for ex in examples if ex.verdict == "accepted"]
    assert accepted and all(ex.provenance["source"] == "llm" for ex in accepted)
    # the prompt describes the skill and shows generated examples of it
    prompt = s.requests[0]["body"]["messages"][-1]["content"]
    assert 'skill "add_no_carry": two-digit addition with no carries' in prompt and "- question: " in prompt
    env.close()


def test_held_out_and_earlier_questions_are_dropped_as_duplicates(scripted_server, tmp_path):
    validation_question = {}

    def copier(messages):
        return json.dumps({"problems": [{"question": validation_question["q"], "answer": "1"},
                                        {"question": "301+402", "answer": "703"},
                                        {"question": "301 + 402", "answer": "703"}]})

    s = scripted_server(default=Reply(copier))
    env = _env(s, tmp_path, problems_per_request=3)
    validation_question["q"] = env.unwrapped.task.heldout("validation")["add_3digit"][0].question
    env.reset(seed=0)
    action = np.zeros(15, dtype=np.float32)
    action[2] = 1.0
    _, _, _, _, info = env.step(action)
    # 11 requests of 3 (32 = 10 x 3 + 2): the held-out copy each time, 301+402 once only
    assert info["teacher/accepted"] == 1
    assert info["teacher/rejected"]["duplicate"] == 31
    env.close()


def test_failures_are_charged_counted_and_the_episode_goes_on(scripted_server, tmp_path):
    s = scripted_server(default=Status(500))
    env = _env(s, tmp_path, max_retries=0)
    env.reset(seed=0)
    _, _, terminated, _, info = env.step(np.ones(15, dtype=np.float32))
    assert info["teacher/rejected"] == {"llm_failed": 32} and info["teacher/accepted"] == 0
    assert info["engine/llm_failures"] == {"server_error": info["engine/llm_requests"]}
    assert info["teacher/budget_left"] == 32 and not terminated
    env.close()


def test_skill_tree_bands_and_open_ended_problems_go_through_the_engine(scripted_server, tmp_path):
    s = scripted_server(default=Reply(writer))
    env = _env(s, tmp_path, env_id="datagym/Arithmetic-SkillTree-v1")
    env.reset(seed=0)
    n = len(env.unwrapped.node_names)
    allocation = np.zeros(n, dtype=np.float32)
    allocation[env.unwrapped.node_names.index("addition")] = 1.0
    env.step({"expand": np.zeros(n, dtype=np.int8), "allocation": allocation})
    prompts = [r["body"]["messages"][-1]["content"] for r in s.requests]
    assert any("Difficulty: from " in p for p in prompts)  # a band's range of difficulty
    assert all(ex.provenance.get("difficulty_range") for ex in env.unwrapped.last_examples)
    env.close()
    made = len(s.requests)
    env = _env(s, tmp_path, env_id="datagym/Arithmetic-OpenEnded-v1")
    env.reset(seed=0)
    _, _, _, _, info = env.step(json.dumps([{"question": "2+2", "answer": "4"}]))
    assert info["teacher/accepted"] == 1 and len(s.requests) == made  # the agent's own problems pass through
    env.close()


def test_the_same_seed_replays_from_the_cache_and_the_env_pickles(scripted_server, tmp_path):
    s = scripted_server(default=Reply(writer))

    def episode(env):
        env.reset(seed=3)
        out = []
        for _ in range(2):
            _, reward, _, _, info = env.step(np.ones(15, dtype=np.float32))
            out.append((reward, info["teacher/rejected"], [ex.question for ex in env.unwrapped.last_examples]))
        return out

    env = _env(s, tmp_path, env_options={"timings": False})
    first = episode(env)
    made = len(s.requests)
    again = _env(s, tmp_path, env_options={"timings": False})
    assert episode(again) == first and len(s.requests) == made
    again.reset(seed=3)
    again.step(np.ones(15, dtype=np.float32))
    copy = pickle.loads(pickle.dumps(again))
    a = again.step(np.ones(15, dtype=np.float32))
    b = copy.step(np.ones(15, dtype=np.float32))
    assert a[1] == b[1] and a[4]["teacher/rejected"] == b[4]["teacher/rejected"]
    env.close()


def test_engine_settings_are_checked_by_name():
    with pytest.raises(UnknownNameError, match=r"Unknown engine 'gpt'; expected one of \['llm', 'procedural'\]"):
        gym.make("datagym/Arithmetic-SkillList-v1", engine="gpt", **FAST)
    with pytest.raises(ConfigError, match="engine_options to name the model"):
        gym.make("datagym/Arithmetic-SkillList-v1", engine="llm", **FAST)
    with pytest.raises(ConfigError, match=r"Unknown LLM option\(s\) \['shots'\]"):
        gym.make("datagym/Arithmetic-SkillList-v1", engine="llm", engine_options={"model": "m", "shots": 2}, **FAST)
