"""reasoning-gym as a task source: each reasoning-gym dataset a skill, its category a family.

reasoning-gym (a pip package) ships about a hundred procedural generators, each with its own
verifier (``score_answer``) and, for most, a difficulty curriculum: named attributes, each with
a list of levels. Here:

- **skills and families**: each dataset of ``datasets`` is a skill; its family is its
  reasoning-gym category (the package the generator lives in: ``arithmetic``, ``algorithmic``,
  ``algebra``, ``cognition``...).
- **difficulty** in [0, 1] picks a curriculum level, 0 the first, 1 the dataset's top usable
  level: the highest up to ``max_level`` (1 by default: past it the default student learns
  nothing more, measured) at which nine in ten of a sample of its questions and answers fit
  ``max_chars`` and ``max_answer_chars`` (the default student reads 128 characters); a longer
  draw, or one with a character outside printable ASCII, is drawn again. Every attribute is set
  to that level (capped at its own last level), and reasoning-gym's configuration at that level
  draws from all the levels up to it. A dataset without a curriculum has one level: its default
  configuration.
- **the oracle is reasoning-gym's verifier**: an example is accepted only when
  ``score_answer(answer, entry)`` is exactly 1.0, with ``entry`` the generator's own record of
  the question (its metadata). A question is labelled with the generator's answer.
- **held-out sets** are drawn from the generators with seeds fixed by the task's name, version
  and skill, as for every task.

**What the Open-Ended level can do here.** reasoning-gym verifies an answer against the
generator's record of its question, so a question an agent writes itself cannot be labelled:
only questions that a generator of one of the task's datasets wrote are (every task object in a
process remembers them, by their text, in one shared record; a pickled task carries the records
of its held-out questions).
A written question outside them is rejected as ``unparseable``, counted, and never trained on.
The Open-Ended teachers that make generator problems (``open_ended_random``, ``_uniform``,
``_triage``, ``_ppo_sim``) work unchanged, in the env's process (a teacher that generates in
another process, of a Ray vector env say, has its questions rejected there).
"""

from __future__ import annotations

import contextlib
import io
import string
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from datagym.errors import ConfigError, OracleError
from datagym.task import ACCEPTED, Task, heldout_from_generators
from datagym.types import Example, Skill, SkillTree

#: the default selection: the datasets whose held-out accuracy the default CPU student raises
#: within an episode, of the 13 whose questions fit it (measured one at a time by
#: benchmarks/reasoning_gym_selection.py; the table is in benchmarks/README.md, "The ReasoningGym task")
DEFAULT_DATASETS = (
    "basic_arithmetic", "chain_sum", "products", "count_bits", "spell_backward", "letter_counting",
)
#: the highest curriculum level the default selection uses: past level 1 the default student's
#: accuracy on the arithmetic datasets stays at what guessing the commonest answer scores (measured)
DEFAULT_MAX_LEVEL = 1
#: every character the default student may read or write here
ALPHABET = "".join(sorted(set(string.printable) - set("\t\r\x0b\x0c")))
_ALPHABET_SET = frozenset(ALPHABET)
#: questions per level checked against ``max_chars`` when the task finds a dataset's top level
LEVEL_SAMPLE = 40
#: draws of one example before a dataset is declared unable to write short enough ones
MAX_DRAWS = 100
#: generated questions whose records are kept for the verifier (then the oldest half is dropped)
MAX_KNOWN = 200_000


@dataclass(frozen=True)
class _Level:
    dataset: Any  #: a reasoning-gym ProceduralDataset at one curriculum level
    level: int


def _quietly(call, *args, **kwargs):
    """Some generators print as they build; the env's output is not theirs to write to."""
    with contextlib.redirect_stdout(io.StringIO()):
        return call(*args, **kwargs)


class ReasoningGymTask(Task):
    """A selection of reasoning-gym datasets as one task.

    Args:
        datasets: reasoning-gym dataset names (``reasoning_gym.factory.DATASETS``), in skill order.
        heldout_size: questions per skill in each of the validation and test sets.
        max_chars: the longest question plus answer a dataset's top usable level may write
            (the default student reads 128 characters, its prompt markers included).
        max_answer_chars: the longest answer written (the student's ``max_new_tokens`` must reach it).
        max_level: the highest curriculum level used (0 the first); None: as high as ``max_chars``
            allows (every dataset's own curriculum, within what the student reads).
    """

    name = "reasoning_gym"
    version = 0

    def __init__(self, datasets: list[str] | tuple[str, ...] = DEFAULT_DATASETS, heldout_size: int = 50,
                 max_chars: int = 110, max_answer_chars: int = 16, max_level: int | None = DEFAULT_MAX_LEVEL) -> None:
        super().__init__()
        from reasoning_gym.factory import DATASETS

        if isinstance(datasets, str) or not isinstance(datasets, (list, tuple)) or not datasets:
            raise ConfigError(f"Expected datasets to be a non-empty list of reasoning-gym dataset names, got {datasets!r}.")
        unknown = [d for d in datasets if d not in DATASETS]
        if unknown:
            raise ConfigError(
                f"Unknown reasoning-gym dataset(s) {unknown}; expected names from reasoning_gym.factory.DATASETS, "
                f"e.g. {sorted(DATASETS)[:6]}."
            )
        if len(set(datasets)) != len(datasets):
            raise ConfigError(f"Expected each dataset once, got {list(datasets)}.")
        for option, value in (("heldout_size", heldout_size), ("max_chars", max_chars),
                              ("max_answer_chars", max_answer_chars)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"Expected {option} to be a positive integer, got {value!r}.")
        self.datasets = tuple(datasets)
        self.heldout_size = heldout_size
        self.max_chars = max_chars
        self.max_answer_chars = max_answer_chars
        if max_level is not None and (isinstance(max_level, bool) or not isinstance(max_level, int) or max_level < 0):
            raise ConfigError(f"Expected max_level to be None or an integer of at least 0, got {max_level!r}.")
        self.max_level = max_level
        families: dict[str, list[Skill]] = {}
        for name in self.datasets:
            category = DATASETS[name][0].__module__.split(".")[1]
            if category in self.datasets:
                category += "_family"
            doc = (DATASETS[name][0].__doc__ or "").strip().splitlines()
            families.setdefault(category, []).append(Skill(name, doc[0] if doc else name, category))
        self.skill_tree = SkillTree.from_families("reasoning_gym", families)
        self._levels: dict[str, list[_Level]] | None = None

    # -- the curriculum ---------------------------------------------------------------------
    def levels(self, skill: str) -> list[_Level]:
        """The dataset of ``skill`` at each usable curriculum level, easiest first."""
        if self._levels is None:
            self._levels = {name: self._usable_levels(name) for name in self.datasets}
        return self._levels[skill]

    def _usable_levels(self, name: str) -> list[_Level]:
        from reasoning_gym.factory import DATASETS, create_curriculum, has_curriculum

        dataset_cls, config_cls = DATASETS[name]
        seed = zlib.crc32(f"{self.name}/{self.version}/{name}".encode())
        if not has_curriculum(name):
            return [_Level(_quietly(dataset_cls, config_cls(seed=seed, size=10**9)), 0)]
        curriculum = create_curriculum(name)
        top = max(len(attribute.levels) for attribute in curriculum.attributes.values())
        usable = []
        for level in range(top if self.max_level is None else min(top, self.max_level + 1)):
            curriculum = create_curriculum(name)
            for attr_name, attribute in curriculum.attributes.items():
                curriculum.set_attr_level(attr_name, min(level, len(attribute.levels) - 1))
            config = curriculum.generate_configuration({"seed": seed, "size": 10**9})
            dataset = _quietly(dataset_cls, config)
            sample = [_quietly(dataset.__getitem__, i) for i in range(LEVEL_SAMPLE)]
            # a level is usable while most of its draws fit (generate draws the rare long one again)
            fits = [len(e["question"].strip()) + len(str(e["answer"])) <= self.max_chars
                    and len(str(e["answer"])) <= self.max_answer_chars for e in sample]
            if sum(fits) < 0.9 * len(sample):
                break
            usable.append(_Level(dataset, level))
        if not usable:
            raise ConfigError(
                f"Expected reasoning-gym dataset {name!r} to write questions and answers of at most "
                f"{self.max_chars} characters at its first curriculum level; it writes longer ones. "
                "Raise max_chars (with a student that reads that far) or leave it out."
            )
        return usable

    # -- the Task contract ------------------------------------------------------------------
    def generate(self, skill: str, rng: np.random.Generator, difficulty: float | None = None) -> Example:
        if skill not in self.datasets:
            raise KeyError(f"Unknown skill {skill!r}; expected one of {list(self.datasets)}.")
        d = float(rng.random()) if difficulty is None else float(np.clip(difficulty, 0.0, 1.0))
        levels = self.levels(skill)
        chosen = levels[int(round(d * (len(levels) - 1)))]
        # a rare long draw (or one with a character outside ALPHABET, as letter_counting's text
        # sometimes has) is drawn again, so every example fits the student
        for _ in range(MAX_DRAWS):
            entry = _quietly(chosen.dataset.__getitem__, int(rng.integers(0, 2**31)))
            question, answer = entry["question"].strip(), self.normalize_answer(str(entry["answer"])) or ""
            if (len(question) + len(answer) <= self.max_chars and len(answer) <= self.max_answer_chars
                    and _ALPHABET_SET.issuperset(question + answer)):
                break
        else:
            raise ConfigError(
                f"Expected reasoning-gym dataset {skill!r} at curriculum level {chosen.level} to write questions "
                f"with answers of at most {self.max_answer_chars} characters, {self.max_chars} in all, "
                f"written in ALPHABET (printable ASCII); "
                f"{MAX_DRAWS} draws in a row were longer. Raise max_chars and max_answer_chars or leave it out."
            )
        _remember(question, skill, entry)
        return Example(question, answer, skill,
                       {"source": "generator", "difficulty": round(d, 4), "level": chosen.level})

    def label(self, question: str) -> str:
        known = self._record(question)
        if known is None:
            raise OracleError(
                "Expected a question one of the task's reasoning-gym generators wrote: reasoning-gym verifies "
                "an answer against its generator's record, so a question written elsewhere cannot be labelled."
            )
        return self.normalize_answer(str(known[1]["answer"])) or ""

    def verify(self, example: Example) -> str:
        """``accepted`` when reasoning-gym's verifier gives the answer exactly 1.0."""
        known = self._record(example.question)
        if known is None:
            return "unparseable"
        skill, entry = known
        score = _quietly(self.levels(skill)[0].dataset.score_answer, example.answer, entry)
        return ACCEPTED if score == 1.0 else "wrong_answer"

    def _record(self, question: str) -> tuple[str, dict] | None:
        """(skill, the generator's entry) of a question a generator of one of this task's datasets wrote."""
        known = _RECORDS.get(question.strip())
        return known if known is not None and known[0] in self.datasets else None

    def normalize_answer(self, answer: str) -> str | None:
        text = " ".join(str(answer).split())
        return text or None

    def classify(self, question: str) -> str | None:
        known = self._record(question)
        return known[0] if known is not None else None

    def characters(self) -> str:
        return ALPHABET

    def build_heldout(self) -> dict[str, dict[str, list[Example]]]:
        return heldout_from_generators(self, self.heldout_size)

    def describe(self) -> dict:
        return {**super().describe(), "datasets": list(self.datasets),
                "levels": {name: [lv.level for lv in self.levels(name)] for name in self.datasets}}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_levels"] = None  # rebuilt on use (reasoning-gym's datasets need not pickle)
        # carry the records of the held-out questions, which the verifier may be asked about
        heldout = {ex.question for split in (self._heldout or {}).values() for exs in split.values() for ex in exs}
        state["_heldout_records"] = {q: _RECORDS[q] for q in heldout if q in _RECORDS}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for question, (skill, entry) in state.pop("_heldout_records", {}).items():
            _remember(question, skill, entry)
        self.__dict__.update(state)


#: question -> (dataset, the generator's entry), for every question a ReasoningGymTask in this
#: process generated: shared, so that a question one task object wrote (an agent's copy, an
#: action space's sample) is labelled by another over the same dataset. The oldest half goes
#: when it is full.
_RECORDS: dict[str, tuple[str, dict]] = {}


def _remember(question: str, skill: str, entry: dict) -> None:
    if len(_RECORDS) >= MAX_KNOWN:
        for key in list(_RECORDS)[: MAX_KNOWN // 2]:
            del _RECORDS[key]
    _RECORDS[question] = (skill, entry)
