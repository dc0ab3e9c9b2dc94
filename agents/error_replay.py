"""Error replay after LLM2LLM (Lee et al. 2024): train on variants of what the student got wrong."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from datagym.agents.open_ended_agent import OpenEndedAgent
from datagym.allocation import round_shares
from datagym.errors import OracleError

_NUMBER = re.compile(r"\d+")


def largest_remainder(weights: np.ndarray, total: int) -> np.ndarray:
    """``total`` split in proportion to non-negative ``weights`` (ties to the lower index)."""
    weights = np.asarray(weights, dtype=np.float64)
    if total <= 0 or weights.sum() <= 0:
        return np.zeros(len(weights), dtype=np.int64)
    return round_shares(weights / weights.sum() * total, total)


class ErrorReplayAgent(OpenEndedAgent):
    """LLM2LLM's loop with a procedural teacher: new problems like the ones the student failed.

    LLM2LLM (Lee et al. 2024) has a teacher LLM write new examples similar to the training
    examples the student answers wrongly, and trains on them. Here the failed questions are the
    validation errors the observation shows, and the "teacher" is procedural: a variant keeps
    the question's text, structure and operators and redraws every number with the same number
    of digits (a single digit of 2-9 within 2-9, so that ``x*7`` never becomes ``x*1``). A
    variant must differ from the original, be answerable by the task's oracle and (via
    ``task.classify``) keep the original's skill. Of ``attempts`` draws, the first half redraw
    every number and the second half all but one, each number kept in turn (so ``57*100`` can
    stay a multiplication by 100). If no draw keeps the skill, the first answerable variant is
    used; if none is answerable, or the question has no numbers, a generator problem of the
    skill.

    The step's ``max_problems`` are spread over the skills of the errors shown, in proportion
    to each skill's full error count (``skills[s]["errors"]``, largest remainder), and within a
    skill round-robin over its errors shown. With no error shown (a perfect student, or
    ``max_errors=0``) it falls back to generator problems in proportion to the error counts
    (equal shares when there are none). Answers are the oracle's (``task.label``), which the
    agent calls anyway to keep only answerable variants, so every problem it writes is
    accepted unless it happens to equal a test question.

    ``seed_share`` > 0 keeps LLM2LLM's other half: its student goes on training on the seed
    data next to the augmentations. That share of each step's problems comes from the task's
    generators, equally over all skills (the seed data's analogue here), the rest is replay.

    Args:
        attempts: variants drawn per problem before falling back (default 20).
        seed_share: share of each step's problems from the generators, equally over skills
            (default 0: all replay).
    """

    def __init__(self, action_space, observation_space, task, attempts: int = 20, seed_share: float = 0.0) -> None:
        super().__init__(action_space, observation_space, task)
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise ValueError(f"Expected attempts to be a positive integer, got {attempts!r}.")
        if isinstance(seed_share, bool) or not isinstance(seed_share, (int, float)) or not 0 <= seed_share <= 1:
            raise ValueError(f"Expected seed_share to be a number in [0, 1], got {seed_share!r}.")
        self.attempts = attempts
        self.seed_share = float(seed_share)

    def act(self, observation: Any, info: dict[str, Any]) -> str:
        state = self.read(observation)
        n = self.problem_count(state)
        n_seed = int(round(n * self.seed_share))
        problems = self._seed_problems(n_seed) if n_seed else []
        return self.write(problems + self._replay(state, n - n_seed))

    def _replay(self, state: dict[str, Any], n: int) -> list[dict[str, str]]:
        skills = state.get("skills", {})
        by_skill: dict[str, list[str]] = {}
        for error in state.get("errors", []):
            by_skill.setdefault(error["skill"], []).append(error["question"])
        if not by_skill:
            return self._from_generators(skills, n)
        names = list(by_skill)
        weights = [max(skills.get(s, {}).get("errors", 0), len(by_skill[s])) for s in names]
        problems: list[dict[str, str]] = []
        for skill, count in zip(names, largest_remainder(np.asarray(weights), n)):
            originals = by_skill[skill]
            for j in range(int(count)):
                problem = self.variant(originals[j % len(originals)], skill)
                if problem is not None:
                    problems.append(problem)
        return problems

    def _seed_problems(self, n: int) -> list[dict[str, str]]:
        """``n`` generator problems, equally over the skills (the remainder to random ones)."""
        k = len(self.skill_names)
        counts = np.full(k, n // k)
        if n % k:
            counts[self.rng.choice(k, size=n % k, replace=False)] += 1
        return [self.generated(skill) for skill, c in zip(self.skill_names, counts) for _ in range(int(c))]

    def variant(self, question: str, skill: str) -> dict[str, str] | None:
        """A problem like ``question`` (see the class docstring), or None if none can be made."""
        numbers = list(_NUMBER.finditer(question))
        if numbers:
            target = self._classify(question)
            fallback = None
            for attempt in range(self.attempts):
                half = (self.attempts + 1) // 2
                keep = None if attempt < half or len(numbers) < 2 else (attempt - half) % len(numbers)
                candidate = self._redraw(question, numbers, keep)
                if candidate == question:
                    continue
                try:
                    answer = self.task.label(candidate)
                except OracleError:
                    continue
                if self._classify(candidate) == target:
                    return {"question": candidate, "answer": answer}
                fallback = fallback or {"question": candidate, "answer": answer}
            if fallback is not None:
                return fallback
        return self.generated(skill) if skill in self.skill_names else None

    def _redraw(self, question: str, numbers: list[re.Match], keep: int | None) -> str:
        """``question`` with every number but the ``keep``-th redrawn."""
        parts, last = [], 0
        for index, match in enumerate(numbers):
            redraw = index != keep
            parts.append(question[last : match.start()])
            digits = len(match.group())
            if redraw:  # uniform over the numbers with this many digits (no leading zero)
                # A single digit of 2-9 stays in 2-9: 0 and 1 would turn it into an identity.
                low = 1 if digits > 1 else 2 if int(match.group()) >= 2 else 0
                first = int(self.rng.integers(low, 10))
                rest = self.rng.integers(0, 10, size=digits - 1)
                parts.append(str(first) + "".join(str(int(d)) for d in rest))
            else:
                parts.append(match.group())
            last = match.end()
        parts.append(question[last:])
        return "".join(parts)

    def _classify(self, question: str) -> str | None:
        try:
            return self.task.classify(question)
        except OracleError:
            return None

    def _from_generators(self, skills: dict[str, Any], n: int) -> list[dict[str, str]]:
        weights = np.asarray([skills.get(s, {}).get("errors", 0) for s in self.skill_names], dtype=np.float64)
        if weights.sum() <= 0:
            weights = np.ones(len(self.skill_names))
        counts = largest_remainder(weights, n)
        return [self.generated(skill) for skill, c in zip(self.skill_names, counts) for _ in range(int(c))]
