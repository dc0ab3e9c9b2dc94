"""The MATH and GSM8K tasks on small files the tests write: loading json, jsonl and parquet through
datasets, skills and difficulty from the records, fixed splits, data selection, math-verify's
verdicts, a skills file from discovery, and the errors a user meets."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from datagym.envs.math.task import GSM8KTask, MathTask, boxed_answer, gsm8k_answer
from datagym.errors import ConfigError, OracleError
from datagym.task import ACCEPTED
from datagym.testing import check_task
from datagym.types import Example


@pytest.fixture(scope="module")
def math_task(math_files):
    return MathTask(path=math_files["math"])


def test_math_records_give_a_skill_per_subject_and_difficulty_from_the_level(math_task):
    assert math_task.skill_names == ("algebra", "counting_probability", "number_theory")
    assert math_task.describe()["problems"] == {"train": 42, "validation": 6, "test": 12}
    levels = {p["difficulty"] for p in math_task.problems}
    assert levels == {0.0, 0.25, 0.5, 0.75, 1.0}
    held = {p["index"] for split in ("validation", "test") for ps in math_task.splits[split].values() for p in ps}
    train = {p["index"] for ps in math_task.splits["train"].values() for p in ps}
    assert not held & train and len(held | train) == 60
    assert MathTask(path=math_task.paths).splits == math_task.splits  # fixed by the version


def test_the_answers_are_checked_by_math_verify(math_task):
    fraction = next(p for p in math_task.problems if "frac" in p["gold"])
    assert fraction["gold"] == "\\frac{1}{2}"
    for right in ("0.5", "1/2", "\\frac{1}{2}", "so the answer is $\\boxed{\\frac{2}{4}}$"):
        assert math_task.is_correct(right, fraction["gold"]), right
    for wrong in ("0.25", "2", "", "half"):
        assert not math_task.is_correct(wrong, fraction["gold"]), wrong
    example = Example(fraction["question"], "0.5", fraction["skill"])
    assert math_task.verify(example) == ACCEPTED
    assert math_task.verify(Example(fraction["question"], "3", fraction["skill"])) == "wrong_answer"
    assert math_task.verify(Example("What is 1+1?", "2", "algebra")) == "unparseable"
    with pytest.raises(OracleError, match="a problem written elsewhere has none"):
        math_task.label("What is 1+1?")


def test_generate_selects_training_problems_nearer_the_difficulty_asked(math_task):
    rng = np.random.default_rng(0)
    train = {p["index"] for ps in math_task.splits["train"].values() for p in ps}
    drawn = [math_task.generate("algebra", rng) for _ in range(50)]
    assert {ex.provenance["record"] for ex in drawn} <= train and all(ex.skill == "algebra" for ex in drawn)
    hard = np.mean([math_task.generate("algebra", rng, 1.0).provenance["difficulty"] for _ in range(100)])
    easy = np.mean([math_task.generate("algebra", rng, 0.0).provenance["difficulty"] for _ in range(100)])
    assert hard > easy + 0.4
    assert check_task(math_task)["warnings"] == []


def test_gsm8k_records_and_a_discovered_skills_file(math_files, tmp_path):
    task = GSM8KTask(path=math_files["gsm8k"])
    assert task.skill_names == ("grade_school_math",) and task.format == "gsm8k"
    ex = task.generate("grade_school_math", np.random.default_rng(1))
    assert ex.answer.isdigit() and task.verify(ex) == ACCEPTED
    assert task.is_correct("He ends with 23 apples", "23") and not task.is_correct("22", "23")
    from datagym.skill_discovery import discover

    skills = discover(math_files["gsm8k"], skills=2, families=1)
    path = tmp_path / "skills.json"
    path.write_text(json.dumps(skills))
    discovered = GSM8KTask(path=math_files["gsm8k"], skills=str(path))
    assert set(discovered.skill_names) == set(skills["skills"]) and len(discovered.skill_names) == 2


def test_json_jsonl_and_parquet_load_the_same_problems(math_files, tmp_path):
    import datasets

    records = [json.loads(line) for line in open(math_files["math"])]
    (tmp_path / "m.json").write_text(json.dumps(records))
    datasets.Dataset.from_list(records).to_parquet(str(tmp_path / "m.parquet"))
    reference = MathTask(path=math_files["math"]).problems
    assert MathTask(path=str(tmp_path / "m.json")).problems == reference
    assert MathTask(path=str(tmp_path / "m.parquet")).problems == reference
    both = MathTask(path=[math_files["math"], str(tmp_path / "m.json")])
    assert len(both.problems) == 120


def test_bad_files_and_options_get_one_clear_error(math_files, tmp_path):
    with pytest.raises(ConfigError, match="Expected task option path"):
        MathTask()
    with pytest.raises(ConfigError, match="which is not a file"):
        MathTask(path=str(tmp_path / "missing.jsonl"))
    with pytest.raises(ConfigError, match="Expected MATH-format records for the math task, got GSM8K-format"):
        MathTask(path=math_files["gsm8k"])
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps({"question": "q", "answer": "no final answer"}) + "\n")
    with pytest.raises(ConfigError, match="record 0 .* has none"):
        GSM8KTask(path=str(broken))
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"text": "x"}) + "\n")
    with pytest.raises(ConfigError, match="Expected MATH records .* or GSM8K records"):
        MathTask(path=str(other))


def test_the_registered_env_without_a_path_fails_with_one_line():
    done = subprocess.run([sys.executable, "-m", "datagym", "run", "--env", "datagym/MATH-SkillList-v0"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: Expected task option path"), done.stderr


def test_reference_answers_are_read_from_the_records():
    assert boxed_answer("so $x = \\boxed{\\frac{1}{\\sqrt{2}}}$, and then \\boxed{3}") == "3"
    assert boxed_answer("nested: \\boxed{\\{1, 2\\} \\cup \\{3\\}}") == "\\{1, 2\\} \\cup \\{3\\}"
    assert boxed_answer("\\fbox{7}") == "7" and boxed_answer("no box") is None
    assert gsm8k_answer("He pays 3*400=<<3*400=1200>>1200.\n#### 1,200") == "1200"
    assert gsm8k_answer("no final line") is None
