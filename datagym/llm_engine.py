"""The LLM data-generation engine (``engine="llm"``): a plan's examples written by an LLM.

For each (skill, count, difficulty) of a plan, an LLM is given the skill's description and a
few examples of it from the task's own generator at that difficulty, and writes ``count``
new problems with answers (``problems_per_request`` per request, ``concurrency`` requests in
flight). It works at every level: Skill-List counts (with or without difficulty), the
Skill-Tree level's band requests (a difficulty range; the band's sub-skill is described by
it), and the Open-Ended level's own problems, which pass through untouched.

Every problem is still verified by the task's oracle, as with every engine: the env labels
it or checks its answer and rejects what is wrong. Before that, the engine drops
(``verdict`` set, so they are counted in ``teacher/rejected`` and kept in ``data/``):

- ``duplicate``: the same question (whitespace aside) as a validation or test question, as an
  earlier training example of the episode, or as another problem of the same step;
- ``near_duplicate``: a question whose ROUGE-L F-measure with one of those is above 0.95
  (LLM2LLM's filter), over word and symbol tokens; only questions of compatible length are
  compared (ROUGE-L above 0.95 needs lengths within 10% of each other), which keeps it fast;
- ``llm_failed``: a problem the LLM did not write (a failed or unusable reply), charged
  to the budget like any example the plan asked for.

A problem without an answer gets the oracle's label, where the oracle can give one. Options:
the LLM client's settings (``datagym.llm.LLMSettings``), ``problems_per_request`` (default 8),
``examples_shown`` (default 3), ``near_duplicate`` (the ROUGE-L threshold, default 0.95).
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
from pydantic import BaseModel

from datagym.engine import Engine, Plan
from datagym.errors import ConfigError, OracleError
from datagym.llm import LLMClient, LLMUsage, cached_settings, complete_structured_many
from datagym.task import Task
from datagym.types import Example

from datagym.engine import DUPLICATE, LLM_FAILED, NEAR_DUPLICATE  # noqa: E402
SYSTEM = "You write training problems for a machine-learning student. You reply with JSON only."
PROMPT = """Write {count} new problems for a student learning the task "{task}", skill "{skill}": {description}.
{difficulty}Here are examples of the skill, in exactly the format to use:
{examples}

Write {count} different problems of this skill in the same format, each with its correct answer, and none equal to an example. Reply with only this JSON and nothing else:
{{"problems": [{{"question": "...", "answer": "..."}}]}}"""
_TOKEN = re.compile(r"\w+|[^\w\s]")


class EngineProblem(BaseModel):
    question: str
    answer: str | int | float | None = None


class EngineProblems(BaseModel):
    problems: list[EngineProblem]


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def rouge_l(a: list[str], b: list[str]) -> float:
    """ROUGE-L F-measure of two token lists (the longest common subsequence's F1)."""
    if not a or not b:
        return 0.0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    lcs = previous[-1]
    return 0.0 if lcs == 0 else 2 * lcs / (len(a) + len(b))


class SeenQuestions:
    """Questions to keep away from: exact (whitespace aside) and ROUGE-L near duplicates."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.exact: set[str] = set()
        self.by_length: dict[int, list[list[str]]] = {}

    def add(self, question: str) -> None:
        self.exact.add("".join(question.split()))
        toks = tokens(question)
        self.by_length.setdefault(len(toks), []).append(toks)

    def verdict(self, question: str) -> str | None:
        if "".join(question.split()) in self.exact:
            return DUPLICATE
        toks = tokens(question)
        n = len(toks)
        # F = 2 lcs / (n + m) > t needs min(n, m) / max(n, m) > t / (2 - t)
        ratio = self.threshold / (2 - self.threshold)
        for m in range(math.floor(n * ratio), math.ceil(n / ratio) + 1):
            for other in self.by_length.get(m, ()):
                if rouge_l(toks, other) > self.threshold:
                    return NEAR_DUPLICATE
        return None


class LLMEngine(Engine):
    """Plans turned into problems by an LLM; see the module docstring."""

    def __init__(self, problems_per_request: int = 8, examples_shown: int = 3, near_duplicate: float = 0.95,
                 **llm_options: Any) -> None:
        for name, value in (("problems_per_request", problems_per_request), ("examples_shown", examples_shown)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"Expected engine option {name} to be a positive integer, got {value!r}.")
        if not isinstance(near_duplicate, (int, float)) or not 0 < near_duplicate <= 1:
            raise ConfigError(f"Expected engine option near_duplicate (a ROUGE-L threshold) in (0, 1], got {near_duplicate!r}.")
        self.client = LLMClient(cached_settings(llm_options, named_by="engine_options"))
        self.problems_per_request = problems_per_request
        self.examples_shown = examples_shown
        self.near_duplicate = float(near_duplicate)
        self._seen: SeenQuestions | None = None
        self._calls = 0
        self._mark = self.client.usage.copy()

    def reset(self) -> None:
        """A new episode: forget its training questions (the held-out ones stay)."""
        self._seen = None
        self._calls = 0
        self.client.usage = LLMUsage()
        self._mark = self.client.usage.copy()

    def _seen_for(self, task: Task) -> SeenQuestions:
        if self._seen is None:
            self._seen = SeenQuestions(self.near_duplicate)
            for split in ("validation", "test"):
                for examples in task.heldout(split).values():
                    for ex in examples:
                        self._seen.add(ex.question)
        return self._seen

    def generate(self, plan: Plan, task: Task, rng: np.random.Generator) -> list[Example]:
        self._mark = self.client.usage.copy()
        self._calls += 1
        seen = self._seen_for(task)
        jobs: list[tuple[str, int, float | None, tuple[float, float] | None]] = []
        for skill, count in plan.counts.items():
            jobs.append((skill, int(count), plan.difficulty.get(skill), None))
        for request in plan.requests:
            jobs.append((request.skill, request.count, None, (request.low, request.high)))
        conversations, meta = [], []
        for skill, count, difficulty, band in jobs:
            for start in range(0, count, self.problems_per_request):
                n = min(self.problems_per_request, count - start)
                d = difficulty if band is None else band[0] + (band[1] - band[0]) * float(rng.random())
                shown = [task.generate(skill, rng, d) for _ in range(self.examples_shown)]
                conversations.append(self._conversation(task, skill, n, d, band, shown))
                meta.append((skill, n, d, band))
        replies = self._ask(conversations)
        out: list[Example] = []
        for (skill, n, d, band), value in zip(meta, replies):
            written = list(value.problems[:n]) if value is not None else []
            for problem in written:
                out.append(self._example(task, skill, problem, d, band, seen))
            for _ in range(n - len(written)):
                missing = Example("", "", skill, {"source": "llm"})
                missing.verdict = LLM_FAILED
                out.append(missing)
        out.extend(plan.examples)
        return out

    def _conversation(self, task: Task, skill: str, count: int, difficulty: float | None,
                      band: tuple[float, float] | None, shown: list[Example]) -> list[dict[str, str]]:
        node = task.skill_tree.nodes.get(skill)
        description = (getattr(node, "description", "") or skill.replace("_", " "))
        if band is not None:
            level = f"Difficulty: from {band[0]:.2f} to {band[1]:.2f} on a scale from 0 (the easiest of the skill) to 1 (the hardest), like the examples.\n"
        elif difficulty is not None:
            level = f"Difficulty: {difficulty:.2f} on a scale from 0 (the easiest of the skill) to 1 (the hardest), like the examples.\n"
        else:
            level = ""
        examples = "\n".join(f"- question: {ex.question}\n  answer: {ex.answer}" for ex in shown)
        prompt = PROMPT.format(count=count, task=task.name, skill=skill, description=description,
                               difficulty=level, examples=examples)
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]

    def _ask(self, conversations: list[list[dict[str, str]]]) -> list[EngineProblems | None]:
        return complete_structured_many(self.client, conversations, EngineProblems,
                                        [[self._calls, k] for k in range(len(conversations))])

    def _example(self, task: Task, skill: str, problem: EngineProblem, difficulty: float | None,
                 band: tuple[float, float] | None, seen: SeenQuestions) -> Example:
        question = task.normalize_question(problem.question)
        provenance: dict[str, Any] = {"source": "llm", "difficulty": None if difficulty is None else round(difficulty, 4)}
        if band is not None:
            provenance["difficulty_range"] = list(band)
        answer = problem.answer
        if answer is None:
            try:
                answer, provenance["answer_from"] = task.label(question), "oracle"
            except OracleError:
                answer = ""
        else:
            answer = str(int(answer)) if isinstance(answer, float) and answer.is_integer() else str(answer)
            provenance["answer_from"] = "llm"
        # filed under the skill the problem exercises, where the task can tell (an LLM strays)
        try:
            classified = task.classify(question)
        except OracleError:
            classified = None
        if classified is not None and classified != skill:
            provenance["requested_skill"] = skill
        example = Example(question, answer, classified or skill, provenance)
        repeated = seen.verdict(question)
        if repeated is not None:
            example.verdict = repeated
        else:
            seen.add(question)  # later problems of this step and episode must not repeat it
        return example

    def step_info(self) -> dict[str, Any]:
        """The last plan's LLM usage, as ``info`` keys (``engine/llm_...``)."""
        return self.client.usage.since(self._mark).info(prefix="engine/llm_")
