"""A user's module for the CLI tests (copied into a temporary directory, imported from there):
a tiny task (reverse a short lowercase word), its Skill-List env id, registered on import."""
import zlib

import gymnasium as gym
import numpy as np

from datagym.errors import OracleError
from datagym.task import Task
from datagym.types import Example, Skill, SkillTree

LETTERS = "abcdefgh"


class ReverseTask(Task):
    name = "reverse"
    version = 0

    def __init__(self, heldout_size: int = 5):
        super().__init__()
        self.heldout_size = heldout_size
        self.skill_tree = SkillTree.from_families(
            "reverse", {"words": [Skill("rev2", family="words"), Skill("rev3", family="words")]})

    def generate(self, skill, rng, difficulty=None):
        d = float(rng.random()) if difficulty is None else float(difficulty)
        n = 2 if skill == "rev2" else 3
        word = "".join(rng.choice(list(LETTERS), size=n))
        q = f"rev {word}"
        return Example(q, word[::-1], skill, {"source": "generator", "difficulty": round(d, 4)})

    def label(self, question):
        head, _, word = question.partition(" ")
        if head != "rev" or not word or any(c not in LETTERS for c in word):
            raise OracleError(f"cannot label {question!r}")
        return word[::-1]

    def normalize_answer(self, answer):
        answer = answer.strip()
        return answer or None

    def _build_heldout(self):
        out = {"validation": {}, "test": {}}
        for skill in self.skill_names:
            rng = np.random.default_rng(zlib.crc32(skill.encode()))
            seen, drawn = set(), []
            while len(drawn) < 2 * self.heldout_size:
                ex = self.generate(skill, rng)
                if ex.question not in seen:
                    seen.add(ex.question)
                    drawn.append(ex)
            out["validation"][skill] = drawn[: self.heldout_size]
            out["test"][skill] = drawn[self.heldout_size:]
        return out


if "tiny/Reverse-SkillList-v0" not in gym.registry:
    gym.register("tiny/Reverse-SkillList-v0", entry_point="datagym.envs.skill_list_env:SkillListEnv",
                 kwargs={"task": "tinytask:ReverseTask"}, max_episode_steps=20)
