"""The LLM policies against real HTTP servers on 127.0.0.1 that speak the OpenAI protocol: prompts
rendered from real observations, episodes that finish whatever the model writes, every failure
counted, the disk cache replaying a whole episode with no request, and the token budget."""

from __future__ import annotations

import json
import re
import zlib

import gymnasium as gym
import jinja2
import pytest

import datagym  # noqa: F401
from datagym.agents import make_agent
from datagym.agents.llm_agent import PROMPTS, render
from datagym.errors import ConfigError
from datagym.llm.scripted_server import Reply, Status
from datagym.runner import run_episode

FAST = {"total_budget": 64, "step_budget": 32,
        "student_options": {"n_layer": 1, "n_embd": 32, "n_head": 2, "epochs": 1, "batch_size": 16}}


def arithmetic_teacher(messages: list[dict]) -> str:
    """A scripted model: as many sums as the prompt asks for, with answers (one in four wrong)."""
    prompt = messages[-1]["content"]
    count = int(re.search(r"Write (\d+) new problems", prompt).group(1))
    seed = zlib.crc32(prompt.encode())
    problems = []
    for i in range(count):
        a, b = (seed + 7 * i) % 50, (seed // 7 + 3 * i) % 50
        problems.append({"question": f"{a}+{b}", "answer": str(a + b + (1 if i % 4 == 3 else 0))})
    return "Here you go:\n```json\n" + json.dumps({"problems": problems}) + "\n```"


def _episode(server, tmp_path, out: str, seed: int = 0, **options):
    env = gym.make("datagym/Arithmetic-OpenEnded-v1", **FAST)
    agent_options = {"base_url": server.url, "model": "scripted", "cache_dir": str(tmp_path / "cache"),
                     "backoff": 0.01, **options}
    agent = make_agent("llm_open_ended", env, **agent_options)
    summary = run_episode(env, agent, seed=seed, out_dir=str(tmp_path / out), agent_options=agent_options)
    steps = [json.loads(line) for line in (tmp_path / out / "steps.jsonl").read_text().splitlines()]
    env.close()
    return summary, steps


def _without_times(step: dict) -> dict:
    return {k: v for k, v in step.items() if not k.startswith("time/")}


def test_every_template_renders_on_a_real_observation_and_a_missing_field_raises():
    env = gym.make("datagym/Arithmetic-OpenEnded-v1", **FAST)
    obs, _ = env.reset(seed=0)
    agent = make_agent("llm_open_ended", env, base_url="http://127.0.0.1:9/v1", model="m")
    agent.reset(0)
    state = agent.read(obs)
    text = agent.prompt(state, state["errors"][:3], 5)
    for error in state["errors"][:3]:
        assert f"{error['question']} | the student answered: {error['student_answer']}" in text
    assert "Write 5 new problems" in text and "add_carry" in text
    assert not re.search(r"\{\{|\}\}|: \||\|\s*$", text)  # nothing left unrendered or blank
    env.close()
    rendered = {"open_ended.j2": text}
    for env_id, name, template in (("datagym/Arithmetic-SkillList-v1", "llm_skill_list", "skill_list.j2"),
                                   ("datagym/Arithmetic-SkillTree-v1", "llm_skill_tree", "skill_tree.j2")):
        env = gym.make(env_id, **FAST)
        obs, _ = env.reset(seed=0)
        agent = make_agent(name, env, base_url="http://127.0.0.1:9/v1", model="m")
        agent.reset(0)
        rendered[template] = agent.prompt(obs)
        env.close()
    assert "- add_carry (two-digit addition with at least one carry" in rendered["skill_list.j2"]
    assert "accuracy 0.00 (first measurement), loss" in rendered["skill_list.j2"]
    assert "- addition (family): accuracy 0.00" in rendered["skill_tree.j2"]
    assert rendered["skill_tree.j2"].count("can be expanded\n") == 6  # one line per visible family
    assert sorted(p.name for p in PROMPTS.glob("*.j2")) == sorted(rendered)  # every template rendered
    for prompt in rendered.values():
        assert "{{" not in prompt and "{%" not in prompt
    with pytest.raises(jinja2.UndefinedError, match="errors"):
        render("open_ended.j2", task_name="arithmetic", skills=[], errors_total=0, count=1)
    with pytest.raises(jinja2.UndefinedError, match="has no attribute 'trend'"):
        render("skill_list.j2", task_name="t", skills=[{"name": "a", "description": "", "accuracy": 0.0,
                                                         "loss": 0.0, "seen": 0}],
               step=1, step_budget=1, budget_left=1, difficulty_control=False)


def test_an_episode_runs_against_the_server_and_reports_its_usage(scripted_server, tmp_path):
    s = scripted_server(default=Reply(arithmetic_teacher))
    summary, steps = _episode(s, tmp_path, "run")
    assert summary["steps"] == 2 and summary["examples_accepted"] > 0
    assert summary["examples_rejected"] == {} or set(summary["examples_rejected"]) <= {"test_contamination"}
    first = steps[0]
    assert first["teacher/llm_requests"] == 2 == first["teacher/llm_replies"]  # 32 problems, 16 a request
    assert first["teacher/llm_problems_written"] == 32 and first["teacher/llm_failures"] == {}
    assert first["teacher/corrected"] > 0  # the scripted model's wrong answers, corrected by the oracle
    recorded = json.loads((tmp_path / "run" / "summary.json").read_text())["teacher_llm"]
    assert recorded["requests"] == len(s.requests) == 4 and recorded["cache_hits"] == 0
    assert recorded["prompt_tokens"] == sum(step["teacher/llm_prompt_tokens"] for step in steps) > 0


def test_a_rerun_with_the_same_seed_replays_the_cache_and_makes_no_request(scripted_server, tmp_path):
    s = scripted_server(default=Reply(arithmetic_teacher))
    _, steps = _episode(s, tmp_path, "first")
    made = len(s.requests)
    summary, again = _episode(s, tmp_path, "again")
    assert len(s.requests) == made and summary["teacher_llm"]["requests"] == 0
    assert summary["teacher_llm"]["cache_hits"] == made
    drop = ("teacher/llm_requests", "teacher/llm_cache_hits")
    assert [{k: v for k, v in _without_times(x).items() if k not in drop} for x in again] == \
        [{k: v for k, v in _without_times(x).items() if k not in drop} for x in steps]
    _episode(s, tmp_path, "other_seed", seed=1)
    assert len(s.requests) > made  # another seed shows other errors: other prompts


def test_noise_from_the_model_is_counted_and_the_episode_finishes(scripted_server, tmp_path):
    s = scripted_server(default=Reply("lorem ipsum dolor, no JSON here at all"))
    summary, steps = _episode(s, tmp_path, "noise")
    assert summary["steps"] >= 1 and summary["examples_accepted"] == 0
    assert steps[0]["teacher/llm_failures"] == {"invalid_json": 2} and steps[0]["teacher/llm_unusable_replies"] == 2
    assert steps[0]["teacher/llm_requests"] == 4  # each request and its one repair turn


def test_a_server_that_fails_and_a_spent_budget_still_finish_the_episode(scripted_server, tmp_path):
    down = scripted_server(default=Status(503))
    summary, steps = _episode(down, tmp_path, "down", max_retries=1)
    assert summary["examples_accepted"] == 0 and steps[0]["teacher/llm_failures"] == {"server_error": 4}
    s = scripted_server(default=Reply(arithmetic_teacher))
    summary, steps = _episode(s, tmp_path, "budget", token_budget=400)
    assert summary["teacher_llm"]["budget_exhausted"] and steps[-1]["teacher/llm_budget_exhausted"]
    assert summary["teacher_llm"]["failures"]["token_budget"] >= 1
    assert summary["steps"] == 20  # nothing more to train on: the episode ends at the step limit


def test_the_agent_asks_for_its_endpoint_by_name():
    env = gym.make("datagym/Arithmetic-OpenEnded-v1", **FAST)
    with pytest.raises(ConfigError, match="name the model and the endpoint"):
        make_agent("llm_open_ended", env)
    with pytest.raises(ConfigError, match=r"Unknown LLM option\(s\) \['modle'\]"):
        make_agent("llm_open_ended", env, model="m", modle="x")
    env.close()


def allocator(messages: list[dict]) -> str:
    """A scripted model for the Skill-List level: everything on the first skill listed."""
    first = re.search(r"^- (\w+) \(", messages[-1]["content"], re.MULTILINE).group(1)
    return json.dumps({"weights": {first: 2.0, "no_such_skill": 1.0}, "rationale": f"{first} is weakest."})


def expander(messages: list[dict]) -> str:
    """A scripted model for the Skill-Tree level: expand addition, then give it all the data."""
    return json.dumps({"expand": ["addition", "nowhere"], "allocation": {"addition": 1.0}, "rationale": "start small"})


def _run(env_id: str, agent_name: str, s, tmp_path, out: str, **options):
    env = gym.make(env_id, **FAST)
    agent_options = {"base_url": s.url, "model": "scripted", "cache_dir": str(tmp_path / "cache"), "backoff": 0.01,
                     **options}
    agent = make_agent(agent_name, env, **agent_options)
    summary = run_episode(env, agent, seed=0, out_dir=str(tmp_path / out), agent_options=agent_options)
    env.close()
    return summary, [json.loads(line) for line in (tmp_path / out / "steps.jsonl").read_text().splitlines()]


def test_the_skill_list_agent_allocates_as_the_model_says_and_keeps_its_rationale(scripted_server, tmp_path):
    s = scripted_server(default=Reply(allocator))
    summary, steps = _run("datagym/Arithmetic-SkillList-v1", "llm_skill_list", s, tmp_path, "list")
    assert steps[0]["teacher/requested"] == {"add_no_carry": 32}
    assert steps[0]["teacher/llm_rationale"] == "add_no_carry is weakest."
    assert steps[0]["teacher/llm_unknown_skills"] == 1 and steps[0]["teacher/llm_fallback"] == 0
    assert "since the last step" in s.requests[1]["body"]["messages"][-1]["content"]  # the trend, from step 2
    noise = scripted_server(default=Reply("I would teach everything equally."))
    _, steps = _run("datagym/Arithmetic-SkillList-v1", "llm_skill_list", noise, tmp_path, "noise")
    assert steps[0]["teacher/llm_fallback"] == 1 and steps[0]["teacher/llm_failures"] == {"invalid_json": 1}
    assert len(steps[0]["teacher/requested"]) == 15  # the uniform fallback


def test_the_skill_tree_agent_expands_and_allocates_as_the_model_says(scripted_server, tmp_path):
    s = scripted_server(default=Reply(expander))
    summary, steps = _run("datagym/Arithmetic-SkillTree-v1", "llm_skill_tree", s, tmp_path, "tree")
    assert steps[0]["teacher/expanded"] == ["addition"] and steps[0]["teacher/llm_unknown_nodes"] == 1
    assert set(steps[0]["teacher/requested"]) <= {"add_no_carry", "add_carry", "add_3digit"}
    assert steps[0]["teacher/llm_rationale"] == "start small" and summary["teacher_llm"]["requests"] == len(s.requests)
    noise = scripted_server(default=Status(500))
    summary, steps = _run("datagym/Arithmetic-SkillTree-v1", "llm_skill_tree", noise, tmp_path, "down", max_retries=0)
    assert steps[0]["teacher/llm_fallback"] == 1 and steps[0].get("teacher/expanded", []) == []
    assert summary["examples_accepted"] > 0  # equal weights over the visible nodes


def test_a_run_killed_mid_step_resumes_without_asking_again(scripted_server, tmp_path, monkeypatch):
    from datagym.runner import resume_episode
    from datagym.students.transformer_student import TransformerStudent

    s = scripted_server(default=Reply(arithmetic_teacher))
    budget = {**FAST, "total_budget": 96}
    options = {"base_url": s.url, "model": "scripted", "backoff": 0.01}

    def start(out: str, cache: str):
        env = gym.make("datagym/Arithmetic-OpenEnded-v1", **budget)
        agent_options = {**options, "cache_dir": str(tmp_path / cache)}
        return env, make_agent("llm_open_ended", env, **agent_options), agent_options

    env, agent, agent_options = start("whole", "cache_whole")
    run_episode(env, agent, seed=0, out_dir=str(tmp_path / "whole"), agent_options=agent_options)
    whole = len(s.requests)
    env, agent, agent_options = start("killed", "cache_killed")
    calls = {"n": 0}
    train = TransformerStudent.train

    def dies_in_step_two(self, examples):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed mid-step, after the step's requests")
        return train(self, examples)

    monkeypatch.setattr(TransformerStudent, "train", dies_in_step_two)
    with pytest.raises(KeyboardInterrupt):
        run_episode(env, agent, seed=0, out_dir=str(tmp_path / "killed"), agent_options=agent_options)
    monkeypatch.undo()
    before_resume = len(s.requests) - whole
    assert before_resume == 4  # steps 1 and 2 asked, 2 requests each; step 2 never finished
    summary = resume_episode(tmp_path / "killed")
    assert len(s.requests) - whole == 6  # step 2 redone from the cache, only step 3 asked
    assert summary["teacher_llm"]["cache_hits"] >= 2
    read = lambda out: [{k: v for k, v in json.loads(line).items()  # noqa: E731
                         if not k.startswith("time/") and k not in ("teacher/llm_requests", "teacher/llm_cache_hits")}
                        for line in (tmp_path / out / "steps.jsonl").read_text().splitlines()]
    assert read("killed") == read("whole")
