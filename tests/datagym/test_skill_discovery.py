"""Skill discovery: the offline TF-IDF and k-means path, the LLM path against a scripted
OpenAI-protocol server on 127.0.0.1, the CLI, and a task loading the skills file."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from datagym.cli import app
from datagym.envs.humaneval.task import HumanEvalTask
from datagym.errors import ConfigError
from datagym.llm.scripted_server import Reply, ScriptedServer
from datagym.skill_discovery import discover, load_skills_file

FRUIT = [f"Ann has {a} apples and buys {b} oranges at the fruit market. How many fruits does she have?"
         for a, b in zip(range(3, 13), range(5, 15))]
TRAINS = [f"A train travels {d} km at {v} km per hour on the railway. How many hours does the journey take?"
          for d, v in zip(range(100, 200, 10), range(20, 30))]


@pytest.fixture
def records(tmp_path):
    path = tmp_path / "gsm8k_like.jsonl"
    path.write_text("".join(json.dumps({"question": q, "answer": "#### 1"}) + "\n" for q in FRUIT + TRAINS))
    return path


def test_offline_discovery_separates_what_differs_and_is_deterministic(records):
    found = discover(str(records), skills=2, families=1)
    assert found["method"] == "tfidf-kmeans" and len(found["assignments"]) == 20
    fruit = {found["assignments"][str(i)] for i in range(10)}
    trains = {found["assignments"][str(i)] for i in range(10, 20)}
    assert len(fruit) == 1 and len(trains) == 1 and fruit != trains
    assert any(term in next(iter(fruit)) for term in ("apples", "fruit", "oranges", "buys", "market"))
    assert sorted(s for members in found["families"].values() for s in members) == sorted(found["skills"])
    assert discover(str(records), skills=2, families=1) == found


def test_humaneval_discovery_covers_every_problem_and_the_task_loads_it(tmp_path):
    found = discover("humaneval", skills=6, families=3)
    assert len(found["assignments"]) == 164 and sum(s["questions"] for s in found["skills"].values()) == 164
    assert len(found["families"]) == 3 and len(found["skills"]) == 6
    path = tmp_path / "skills.json"
    path.write_text(json.dumps(found))
    task = HumanEvalTask(skills=str(path))
    assert set(task.skill_names) == set(found["skills"])
    assert task.skill_of == found["assignments"] and task.describe()["skills_file"] == str(path)
    assert sum(map(len, task.splits["test"].values())) + sum(map(len, task.splits["validation"].values())) \
        + sum(map(len, task.splits["train"].values())) == 164
    partial = dict(found, assignments={k: v for k, v in list(found["assignments"].items())[:100]})
    path.write_text(json.dumps(partial))
    with pytest.raises(ConfigError, match="assign every HumanEval problem a skill, 64 have none"):
        HumanEvalTask(skills=str(path))


def llm_labeller(messages: list[dict]) -> str:
    prompt = messages[-1]["content"]
    if prompt.startswith("Group these skill names"):
        names = prompt.split("Skills:\n", 1)[1].split()
        return json.dumps({"families": {"word problems": [n for n in names if n != "railway_time"],
                                        "motion": ["railway_time"]}})
    if any("Ann has 7 apples" in m["content"] for m in messages):
        return "no idea"  # unusable, and again after the repair turn: the offline skill of its cluster stands in
    return json.dumps({"skill": "fruit counting" if "apples" in prompt else "railway time"})


def test_llm_discovery_names_and_groups_and_replays_from_the_cache(records, tmp_path):
    with ScriptedServer(default=Reply(llm_labeller)) as server:
        options = {"base_url": server.url, "model": "scripted", "cache_dir": str(tmp_path / "cache")}
        found = discover(str(records), skills=2, families=2, llm_options=options)
        made = len(server.requests)
        assert found["method"] == "llm" and found["fallback_questions"] == 1
        assert found["assignments"]["0"] == "fruit_counting" and found["assignments"]["10"] == "railway_time"
        assert found["skills"]["railway_time"]["family"] == "motion"
        assert found["families"]["motion"] == ["railway_time"]
        assert found["llm"]["failures"] == {"invalid_json": 1}
        assert made == 20 + 1 + 1  # a request per question, one repair turn, one grouping
        assert discover(str(records), skills=2, families=2, llm_options=options) == {**found, "llm": {
            **found["llm"], "requests": 0, "cache_hits": 22, "failures": {"invalid_json": 1}}}
        assert len(server.requests) == made


def test_the_cli_writes_the_skills_file_and_refuses_bad_data(records, tmp_path):
    runner = CliRunner()
    out = tmp_path / "skills.json"
    result = runner.invoke(app, ["skills", "discover", str(records), "--out", str(out), "--skills", "2",
                                 "--families", "1"])
    assert result.exit_code == 0, result.output
    assert re.search(r"20 questions, 2 skills in 1 families \(tfidf-kmeans\); wrote", result.output)
    assert load_skills_file(str(out))["assignments"].keys() == {str(i) for i in range(20)}
    result = runner.invoke(app, ["skills", "discover", str(tmp_path / "none.jsonl"), "--out", str(out)])
    assert result.exit_code == 2 and "which is not a file" in result.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"body": "x"}) + "\n")
    result = runner.invoke(app, ["skills", "discover", str(bad), "--out", str(out)])
    assert result.exit_code == 2 and "question field" in result.output
    result = runner.invoke(app, ["skills", "discover", str(records), "--out", str(out), "--skills", "30"])
    assert result.exit_code == 2 and "skills <= questions" in result.output


def test_a_cluster_left_empty_is_no_skill(tmp_path):
    path = tmp_path / "same.jsonl"
    path.write_text("".join(json.dumps({"question": f"Add {i} and {i + 1}."}) + "\n" for i in range(10)))
    found = discover(str(path), skills=2, families=1)  # the words are the same: one cluster holds them all
    assert len(found["skills"]) == 1 and found["empty_clusters"] == 1
    assert set(found["assignments"].values()) == set(found["skills"]) == set(found["families"][next(iter(found["families"]))])
