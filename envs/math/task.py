"""Math from files: MATH-format and GSM8K-format records, answers checked by math-verify.

The user brings the data (nothing is downloaded): ``task_options={"path": "..."}``, a json,
jsonl or parquet file (or a list of them), read with Hugging Face ``datasets``. The format is
told by the fields:

- **MATH**: ``problem``, ``solution`` (the answer is its last ``\\boxed{...}``), ``type`` (the
  subject: the skill) and ``level`` (``"Level 1"`` to ``"Level 5"``: difficulty 0 to 1);
- **GSM8K**: ``question`` and ``answer`` (the final answer follows ``####``); one skill,
  ``grade_school_math``, until a skills file from ``datagym skills discover`` names more
  (``skills``: its ``assignments`` are keyed by the record's index in the files).

Each skill's problems are split once, by a seed the task version sets, into validation,
test and a training pool. Without an LLM, ``generate`` is data selection: a training problem
of the skill (with its reference answer), nearer the requested difficulty the more it is asked.
Answers are compared by Hugging Face's ``math-verify`` (``0.5`` equals ``\\frac{1}{2}``, a
completion's last ``\\boxed{}`` is found), never by hand-written normalisation. The oracle knows
the files' problems; a problem written elsewhere cannot be labelled and is rejected as
``unparseable``.
"""

from __future__ import annotations

import math
import re
import threading
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from datagym.errors import ConfigError, OracleError
from datagym.skill_discovery import load_skills_file, name_of
from datagym.task import ACCEPTED, Task, pick_by_difficulty
from datagym.types import Example, Skill, SkillTree

GSM8K_SKILL = "grade_school_math"
#: how sharply ``generate`` prefers problems near the requested difficulty (a softmin temperature)
DIFFICULTY_TEMPERATURE = 0.1


def boxed_answer(solution: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (or ``\\fbox{...}``) in ``solution``."""
    for marker in ("\\boxed{", "\\fbox{"):
        start = solution.rfind(marker)
        if start >= 0:
            depth, i = 1, start + len(marker)
            for j in range(i, len(solution)):
                depth += {"{": 1, "}": -1}.get(solution[j], 0)
                if depth == 0:
                    return solution[i:j].strip()
    return None


def gsm8k_answer(answer: str) -> str | None:
    if "####" not in answer:
        return None
    return answer.rsplit("####", 1)[1].strip().replace(",", "")


def _read(paths: list[str]) -> list[dict[str, Any]]:
    import datasets

    datasets.disable_progress_bars()
    kinds = {".json": "json", ".jsonl": "json", ".parquet": "parquet"}
    kind = {kinds.get(Path(p).suffix.lower()) for p in paths}
    if None in kind or len(kind) != 1:
        raise ConfigError(f"Expected json, jsonl or parquet files (one kind), got {paths}.")
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise ConfigError(f"Expected task option path to name existing files, got {missing[0]!r}, which is not a file.")
    data = datasets.load_dataset(kind.pop(), data_files=paths, split="train")
    return [dict(row) for row in data]


class MathFileTask(Task):
    """MATH- or GSM8K-format problems from the user's files, graded by math-verify
    (``MathTask`` and ``GSM8KTask`` each expect their format).

    Args:
        path: a json, jsonl or parquet file, or a list of them.
        validation_fraction: share of each skill's problems in the validation set (at least one).
        test_fraction: share in the test set (at least one); the rest is the training pool.
        max_problems: keep at most this many problems per skill (the first after the split's shuffle).
        skills: a skills file from ``datagym skills discover`` (GSM8K: more skills than one).
    """

    name = "math_files"
    version = 0
    #: the format the files must have (None: either)
    expected_format: str | None = None
    #: a generative student's completion is cut to its last \\boxed{} (else its last number)
    answer_format = "boxed"
    max_question_chars = 4096

    def __init__(self, path: str | list[str] | None = None, validation_fraction: float = 0.1,
                 test_fraction: float = 0.2, max_problems: int | None = None, skills: str | None = None) -> None:
        super().__init__()
        if not path:
            raise ConfigError(
                "Expected task option path: the MATH- or GSM8K-format file(s) to load (nothing is downloaded), e.g. "
                "--task-options '{\"path\": \"data/math_train.jsonl\"}'."
            )
        for label, value in (("validation_fraction", validation_fraction), ("test_fraction", test_fraction)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
                raise ConfigError(f"Expected {label} to be a number in (0, 1), got {value!r}.")
        if validation_fraction + test_fraction >= 1:
            raise ConfigError(f"Expected validation_fraction + test_fraction below 1, got "
                              f"{validation_fraction} + {test_fraction}.")
        self.paths = [path] if isinstance(path, str) else [str(p) for p in path]
        self.validation_fraction, self.test_fraction = float(validation_fraction), float(test_fraction)
        self.max_problems = max_problems
        self.skills_file = skills
        records = _read(self.paths)
        self.problems = self._problems(records, skills)
        self._by_question = {_key(p["question"]): p for p in self.problems}
        self.format = self.problems[0]["format"]
        names = sorted({p["skill"] for p in self.problems})
        self.skill_tree = SkillTree.from_families(
            "math_problems", {self.format: [Skill(n, f"{self.format} problems: {n.replace('_', ' ')}") for n in names]}
        )
        self.splits = self._split()

    # -- loading -----------------------------------------------------------------------------
    def _problems(self, records: list[dict[str, Any]], skills: str | None) -> list[dict[str, Any]]:
        if not records:
            raise ConfigError(f"Expected problems in {self.paths}, found none.")
        fields = set(records[0])
        if {"problem", "solution"} <= fields:
            form = "math"
        elif {"question", "answer"} <= fields:
            form = "gsm8k"
        else:
            raise ConfigError(f"Expected MATH records (problem, solution, type, level) or GSM8K records (question, "
                              f"answer with '####'), got fields {sorted(fields)} in {self.paths}.")
        if self.expected_format is not None and form != self.expected_format:
            raise ConfigError(f"Expected {self.expected_format.upper()}-format records for the {self.name} task, got "
                              f"{form.upper()}-format ones in {self.paths}; use the {form} task (its envs) for them.")
        assignments = None
        if skills is not None:
            assignments = load_skills_file(skills)["assignments"]
        problems = []
        for i, record in enumerate(records):
            if form == "math":
                question, gold = str(record["problem"]).strip(), boxed_answer(str(record["solution"]))
                skill = name_of(str(record.get("type") or "math"))
                level = re.search(r"\d+", str(record.get("level", "")))
                difficulty = (min(5, max(1, int(level.group()))) - 1) / 4 if level else 0.5
            else:
                question, gold = str(record["question"]).strip(), gsm8k_answer(str(record["answer"]))
                skill, difficulty = GSM8K_SKILL, 0.5
            if gold is None:
                raise ConfigError(
                    f"Expected every {form.upper()} record to have a final answer ("
                    + ("a \\boxed{} in its solution" if form == "math" else "'####' then the answer")
                    + f"); record {i} of {self.paths} has none."
                )
            if assignments is not None:
                if str(i) not in assignments:
                    raise ConfigError(f"Expected the skills file {skills!r} to assign record {i} a skill, it does not.")
                skill = assignments[str(i)]
            problems.append({"index": i, "question": question, "gold": gold, "skill": skill,
                             "difficulty": round(difficulty, 4), "format": form})
        return problems

    def _split(self) -> dict[str, dict[str, list[dict[str, Any]]]]:
        splits: dict[str, dict[str, list[dict[str, Any]]]] = {"train": {}, "validation": {}, "test": {}}
        for skill in self.skill_names:
            members = [p for p in self.problems if p["skill"] == skill]
            rng = np.random.default_rng([self.version, zlib.crc32(f"{self.name}/{skill}".encode())])
            members = [members[i] for i in rng.permutation(len(members))]
            if self.max_problems is not None:
                members = members[: self.max_problems]
            n_validation = max(1, round(len(members) * self.validation_fraction))
            n_test = max(1, math.ceil(len(members) * self.test_fraction))
            if n_validation + n_test >= len(members):
                raise ConfigError(f"Skill {skill!r} has {len(members)} problems: too few for a training pool beside "
                                  f"{n_validation} validation and {n_test} test problems.")
            splits["validation"][skill] = members[:n_validation]
            splits["test"][skill] = members[n_validation:n_validation + n_test]
            splits["train"][skill] = sorted(members[n_validation + n_test:], key=lambda p: (p["difficulty"], p["index"]))
        return splits

    def _example(self, problem: dict[str, Any], source: str) -> Example:
        return Example(problem["question"], problem["gold"], problem["skill"],
                       {"source": source, "difficulty": problem["difficulty"], "record": problem["index"]})

    # -- the Task contract ------------------------------------------------------------------
    def generate(self, skill: str, rng: np.random.Generator, difficulty: float | None = None) -> Example:
        pool = self.splits["train"].get(skill)
        if pool is None:
            raise KeyError(f"Unknown skill {skill!r}; expected one of {list(self.skill_names)}.")
        index = pick_by_difficulty([p["difficulty"] for p in pool], rng, difficulty, DIFFICULTY_TEMPERATURE)
        return self._example(pool[index], "generator")

    def label(self, question: str) -> str:
        problem = self._by_question.get(_key(question))
        if problem is None:
            raise OracleError("Expected a problem of the task's files: math-verify checks answers against a reference, "
                              "and a problem written elsewhere has none.")
        return problem["gold"]

    def normalize_answer(self, answer: str) -> str | None:
        text = str(answer).strip()
        return text or None

    def is_correct(self, prediction: str, gold: str) -> bool:
        """math-verify's verdict on ``prediction`` against ``gold`` (both parsed as LaTeX or expressions)."""
        from math_verify import parse, verify

        if not str(prediction).strip():
            return False
        timeout = 5 if threading.current_thread() is threading.main_thread() else None  # its alarm needs the main thread
        gold_parsed = parse(f"${gold}$", parsing_timeout=timeout)
        answer_parsed = parse(str(prediction), parsing_timeout=timeout)
        if not gold_parsed or not answer_parsed:
            return False
        return bool(verify(gold_parsed, answer_parsed, timeout_seconds=timeout))

    def verify(self, example: Example) -> str:
        try:
            gold = self.label(example.question)
        except OracleError:
            return "unparseable"
        return ACCEPTED if self.is_correct(example.answer, gold) else "wrong_answer"

    def classify(self, question: str) -> str | None:
        problem = self._by_question.get(_key(question))
        return problem["skill"] if problem is not None else None

    def build_heldout(self) -> dict[str, dict[str, list[Example]]]:
        return {split: {skill: [self._example(p, "heldout") for p in problems]
                        for skill, problems in self.splits[split].items()} for split in ("validation", "test")}

    def describe(self) -> dict:
        return {**super().describe(), "format": self.format, "paths": self.paths, "skills_file": self.skills_file,
                "problems": {split: sum(map(len, by_skill.values())) for split, by_skill in self.splits.items()}}


def _key(question: str) -> str:
    return " ".join(question.split())




class MathTask(MathFileTask):
    """MATH-format problems (``problem``, ``solution``, ``type``, ``level``): a skill per subject."""

    name = "math"
    expected_format = "math"


class GSM8KTask(MathFileTask):
    """GSM8K-format problems (``question``, ``answer`` ending ``#### N``): one skill, or a skills file's."""

    name = "gsm8k"
    expected_format = "gsm8k"
