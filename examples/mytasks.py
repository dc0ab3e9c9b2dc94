"""A task of your own: string skills, with capitals, colons and quotes in its questions.

The example of README.md's "Writing a task" (the code below is that section's, verbatim). With
this folder on ``sys.path``, ``import mytasks`` registers ``mine/Strings-SkillList-v0``::

    python -c "import mytasks; from datagym.testing import check_task; print(check_task(mytasks.StringTask()))"
"""

from __future__ import annotations

import re
import string

import gymnasium
import numpy as np

from datagym.errors import OracleError
from datagym.task import Task, heldout_from_generators
from datagym.types import Example, Skill, SkillTree

#: question templates; ``{w}`` is a word of 2 (difficulty 0) to 7 (difficulty 1) letters
TEMPLATES = {
    "first": "First: {w}",
    "upper": "Upper: {w}",
    "reverse": "Reverse: {w}",
    "length": "Length: {w}",
    "count": "Count '{c}' in: {w}",
}
PATTERN = re.compile(r"(First|Upper|Reverse|Length): ([A-Za-z]+)|Count '([a-z])' in: ([A-Za-z]+)")


class StringTask(Task):
    """Five skills on one word each; answers fit the default student's 8 answer characters."""

    name = "strings"
    version = 0

    def __init__(self, heldout_size: int = 50) -> None:
        super().__init__()
        self.heldout_size = heldout_size
        families = {"letters": ["first", "upper", "reverse"], "counting": ["length", "count"]}
        self.skill_tree = SkillTree.from_families(
            "strings", {family: [Skill(s, family=family) for s in names] for family, names in families.items()}
        )

    def generate(self, skill: str, rng: np.random.Generator, difficulty: float | None = None) -> Example:
        d = float(rng.random()) if difficulty is None else float(np.clip(difficulty, 0.0, 1.0))
        letters = rng.choice(list(string.ascii_lowercase), size=2 + int(round(5 * d)))
        if rng.random() < 0.5:
            letters[0] = letters[0].upper()  # capitals are part of the task
        c = str(rng.choice(list(string.ascii_lowercase)))
        if skill == "count":  # 0 to 3 copies of the letter counted, so that no one answer dominates
            others = [x for x in string.ascii_lowercase if x != c]
            letters = [x if x.lower() != c else str(rng.choice(others)) for x in letters]
            for i in rng.choice(len(letters), size=int(rng.integers(min(3, len(letters)) + 1)), replace=False):
                letters[i] = c
        question = TEMPLATES[skill].format(w="".join(letters), c=c)
        return Example(question, self.label(question), skill, {"source": "generator", "difficulty": round(d, 4)})

    def label(self, question: str) -> str:
        match = PATTERN.fullmatch(question.strip())
        if match is None:
            raise OracleError(f"Expected a question like {list(TEMPLATES.values())}, got {question!r}.")
        verb, word, letter, counted = match.groups()
        if letter is not None:
            return str(counted.lower().count(letter))
        return {"First": word[0], "Upper": word.upper(), "Reverse": word[::-1], "Length": str(len(word))}[verb]

    def normalize_answer(self, answer: str) -> str | None:
        text = answer.strip()
        return text if text.isalnum() else None  # "" and anything with spaces or signs is no answer

    def characters(self) -> str:
        return "".join(sorted(set(string.ascii_letters + string.digits + ":' ")))  # the exact alphabet

    def build_heldout(self) -> dict[str, dict[str, list[Example]]]:
        # distinct generated questions seeded by name, version and skill, split in two
        return heldout_from_generators(self, self.heldout_size)


if "mine/Strings-SkillList-v0" not in gymnasium.registry:  # importing twice must not fail
    gymnasium.register(
        id="mine/Strings-SkillList-v0",
        entry_point="datagym.envs.skill_list_env:SkillListEnv",
        kwargs={"task": "mytasks:StringTask"},
        max_episode_steps=20,
    )
