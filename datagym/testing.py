"""``check_task``: the ``Task`` contract, checked, with every failure explained.

The ``check_env`` of tasks. Run it on a new task before teaching with it::

    from datagym.testing import check_task
    report = check_task(MyTask())      # raises TaskCheckError on the first broken rule
    print(report["warnings"])          # what is allowed but limits the task

Each failure raises ``datagym.errors.TaskCheckError`` whose message names the check, what was
expected, what came in, an offending example and the fix (``err.check`` is the check's name).
The checks, in order:

``attributes``
    ``name`` is a non-empty string, ``version`` an integer >= 0.
``skill_tree``
    ``skill_tree`` is a ``SkillTree`` with at least one leaf, no leaf twice, and
    ``skill_names`` are its leaves.
``heldout_shape``
    ``build_heldout()`` returns ``{"validation": {...}, "test": {...}}`` with a non-empty list
    of ``Example`` for every skill in both splits (and no other skills).
``heldout_fixed``
    building the held-out sets twice, and in a fresh instance made with the same arguments,
    gives the same questions and answers: they are a function of the version alone.
``heldout_disjoint``
    no question is in both validation and test (whitespace ignored, as
    ``Task.is_test_question`` compares).
``generate`` / ``generate_deterministic``
    ``generate(skill, rng, difficulty)`` returns an ``Example`` for every skill at
    difficulties 0, 0.25, 0.5, 0.75, 1 and None, and the same generator state gives the same
    example.
``skill``
    every held-out and generated example has the skill it was filed or asked under.
``oracle_labels`` / ``label_canonical`` / ``oracle_accepts``
    the oracle labels every held-out and generated question without ``OracleError``, its label
    survives ``normalize_answer`` (``normalize_answer(label(q)) == label(q)``), and
    ``task.verify`` accepts the example (its answer is the oracle's).
``question_form``
    held-out and generated questions are already in the task's own format
    (``normalize_question(q) == q``), the form agent-written questions are trained in.
``difficulty``
    a recorded ``provenance["difficulty"]`` is a number in [0, 1]. A held-out example that
    records none is a **warning** by default: only the difficulty bands need it (the
    Skill-List env's ``difficulty_control=True`` observation and the Skill-Tree env's band
    nodes), and a task used without them is fine. ``require_difficulty=True`` makes it an
    error; do that for a task meant for difficulty-aware teachers.
``classify``
    ``classify(question)`` returns None or one of the skills (a mismatch with the example's
    own skill is a warning: skills may overlap).
``vocabulary``
    the student the task will be taught with (by default the default student,
    ``TransformerStudent``) accepts the task in ``prepare(task)`` and can encode every
    character of every held-out and generated question and answer; a character it cannot
    encode would silently become an unknown token the student could never learn to write.

On success it returns a report: the task, counts, the characters, the student, the names of
the checks that passed and the list of warnings (also issued as ``TaskCheckWarning``). It takes
a few seconds: the held-out sets are built three times and a few dozen examples generated per
skill.
"""

from __future__ import annotations

import copy
import math
import numbers
import warnings
from typing import Any, Iterable

import numpy as np

from datagym.errors import ConfigError, OracleError, TaskCheckError
from datagym.student import Student
from datagym.task import ACCEPTED, Task, _squash
from datagym.types import Example, SkillTree

#: the difficulties each skill's generator is sampled at (None: the generator draws one)
DIFFICULTIES = (0.0, 0.25, 0.5, 0.75, 1.0, None)

SPLITS = ("validation", "test")


class TaskCheckWarning(UserWarning):
    """Something ``check_task`` found allowed but limiting (e.g. no difficulty on held-out examples)."""


class _Item:
    """An example to check, and where it came from (for the message)."""

    __slots__ = ("example", "skill", "origin")

    def __init__(self, example: Example, skill: str, origin: str) -> None:
        self.example, self.skill, self.origin = example, skill, origin


def check_task(
    task: Task,
    student: Student | None = None,
    *,
    require_difficulty: bool = False,
    samples: int = 4,
    seed: int = 0,
) -> dict[str, Any]:
    """Check that ``task`` keeps the ``Task`` contract; raise ``TaskCheckError`` explaining the first
    rule it breaks, or return a report.

    Args:
        task: the task instance to check.
        student: the student it will be taught with; ``None`` checks against the default student
            (``TransformerStudent()``). Its ``prepare(task)`` is called, as the env does.
        require_difficulty: make held-out examples without ``provenance["difficulty"]`` an error
            rather than a warning (the difficulty bands need it).
        samples: generated examples per skill and difficulty (difficulties 0, 0.25, 0.5, 0.75,
            1 and None).
        seed: seeds the generated sample.

    Returns:
        ``{"task", "version", "skills", "heldout": {"validation": n, "test": n}, "generated",
        "characters", "student", "checks", "warnings"}``.
    """
    name = _task_label(task)
    passed: list[str] = []
    found: list[str] = []

    def fail(check: str, expected: str, got: str, example: str, fix: str) -> TaskCheckError:
        return TaskCheckError(
            f"check_task({name}): check {check!r} failed.\n"
            f"  expected: {expected}\n"
            f"  got: {got}\n"
            f"  example: {example}\n"
            f"  fix: {fix}",
            check=check,
        )

    def warn(message: str) -> None:
        found.append(message)  # issued as warnings once every check has passed

    if not isinstance(task, Task):
        raise fail(
            "attributes", "an instance of datagym.task.Task", f"{type(task).__name__} {task!r:.80}",
            "-", "subclass datagym.task.Task and pass an instance (MyTask(), not MyTask)",
        )
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ConfigError(f"Expected samples to be a positive integer (examples per skill and difficulty), got {samples!r}.")
    try:
        pristine: Task | None = copy.deepcopy(task)  # untouched by the checks: a fallback fresh instance
    except Exception:
        pristine = None

    # -- attributes and the tree -------------------------------------------------------------
    task_name = getattr(task, "name", None)
    if not isinstance(task_name, str) or not task_name:
        raise fail("attributes", "name: a non-empty string", f"name = {task_name!r}", "-",
                   'set the class attribute name = "mytask" (it seeds the held-out sets)')
    version = getattr(task, "version", None)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise fail("attributes", "version: an integer >= 0", f"version = {version!r}", "-",
                   "set the class attribute version = 0, and bump it whenever the held-out sets or the oracle change")
    passed.append("attributes")

    tree = getattr(task, "skill_tree", None)
    if not isinstance(tree, SkillTree):
        raise fail("skill_tree", "skill_tree: a datagym.types.SkillTree", f"{type(tree).__name__} {tree!r:.80}", "-",
                   "set self.skill_tree = SkillTree.from_families(root, {family: [Skill(name), ...]})")
    leaves = tree.leaves
    repeated = sorted({s for s in leaves if leaves.count(s) > 1})
    if not leaves or repeated:
        raise fail("skill_tree", "at least one leaf skill, each leaf once",
                   f"leaves {list(leaves)}" + (f", repeated: {repeated}" if repeated else ""), "-",
                   "give every skill exactly one parent in skill_tree.children")
    skills = tuple(task.skill_names)
    if skills != leaves:
        raise fail("skill_tree", f"skill_names == skill_tree.leaves, {list(leaves)}", f"skill_names {list(skills)}",
                   "-", "do not override skill_names: it is the leaves of skill_tree, in order")
    passed.append("skill_tree")

    # -- held-out sets -------------------------------------------------------------------------
    heldout = _build(task, fail)
    for split in SPLITS:
        by_skill = heldout.get(split) if isinstance(heldout, dict) else None
        if not isinstance(by_skill, dict):
            raise fail("heldout_shape", '{"validation": {skill: [Example, ...]}, "test": {...}}',
                       f"{type(heldout).__name__} with keys {sorted(heldout) if isinstance(heldout, dict) else '-'}"
                       f" ({split!r}: {type(by_skill).__name__})", "-",
                       "return a dict with both splits from build_heldout, each mapping every skill to its examples")
        missing = [s for s in skills if s not in by_skill]
        extra = sorted(set(by_skill) - set(skills), key=str)
        if missing or extra:
            raise fail("heldout_shape", f"{split!r} held-out examples for exactly the skills {list(skills)}",
                       f"missing {missing}, unknown {extra}", "-",
                       "build both splits for every leaf of skill_tree, under the leaf's name")
        for skill in skills:
            examples = by_skill[skill]
            if not isinstance(examples, list) or not examples:
                raise fail("heldout_shape", f"a non-empty list of Example for {split!r} skill {skill!r}",
                           f"{type(examples).__name__} of length {len(examples) if hasattr(examples, '__len__') else '-'}",
                           "-", "generate at least one distinct question per skill for each split")
            bad = next((ex for ex in examples if not isinstance(ex, Example)), None)
            if bad is not None:
                raise fail("heldout_shape", "datagym.types.Example items", f"a {type(bad).__name__} in {split!r} {skill!r}",
                           f"{bad!r:.160}", "build held-out items as Example(question, answer, skill, provenance)")
    passed.append("heldout_shape")

    reference = _signature(heldout)
    again = _signature(_build(task, fail))
    if again != reference:
        raise fail("heldout_fixed", "the same held-out sets every time build_heldout() is called",
                   "a second call gave different examples", _first_difference(reference, again),
                   "seed build_heldout's generator from the task alone, e.g. np.random.default_rng([self.version, "
                   "zlib.crc32(f'{self.name}/{skill}'.encode())]), never from instance state, global random state or time")
    fresh, how = _fresh_instance(task, pristine)
    other = reference if fresh is None else _signature(_build(fresh, fail))
    if fresh is None:
        warn(f"could not make a second instance of {type(task).__name__} (its constructor failed with the same "
             f"arguments and it does not deepcopy), so the held-out sets were only checked by building them twice.")
    if other != reference:
        raise fail("heldout_fixed", f"the same held-out sets in a fresh instance ({how})",
                   "the fresh instance built different examples", _first_difference(reference, other),
                   "make the held-out sets a function of name, version and skill alone (seed with zlib.crc32, not "
                   "hash(), id() or a counter shared between instances)")
    passed.append("heldout_fixed")

    where: dict[str, tuple[str, str]] = {}
    for skill in skills:
        for ex in heldout["validation"][skill]:
            where.setdefault(_squash(ex.question), (skill, ex.question))
    shared = [(where[_squash(ex.question)], skill, ex)
              for skill in skills for ex in heldout["test"][skill] if _squash(ex.question) in where]
    if shared:
        (val_skill, _), test_skill, ex = shared[0]
        raise fail("heldout_disjoint", "no question in both validation and test (whitespace ignored)",
                   f"{len(shared)} test question(s) also in validation", f"{ex.question!r} (validation skill "
                   f"{val_skill!r}, test skill {test_skill!r})",
                   "draw both splits from one stream of distinct questions and cut it in two, as "
                   "datagym.task.heldout_from_generators does")
    passed.append("heldout_disjoint")

    # -- generated examples ------------------------------------------------------------------
    generated = _sample(task, skills, samples, seed, fail)
    repeat = _sample(task, skills, samples, seed, fail)
    for first, second in zip(generated, repeat):
        if _key(first.example) != _key(second.example):
            raise fail("generate_deterministic", "the same example from the same generator state",
                       f"{_show(first.example)} then {_show(second.example)}", first.origin,
                       "draw every random choice in generate from its rng argument (no random module, "
                       "np.random.* functions, time or instance counters)")
    passed += ["generate", "generate_deterministic"]

    items = [_Item(ex, skill, f"held-out {split} {skill!r}")
             for split in SPLITS for skill in skills for ex in heldout[split][skill]]
    items += generated
    _check_examples(task, skills, items, require_difficulty, fail, warn, passed)

    # -- the student's vocabulary ------------------------------------------------------------
    student = _default_student() if student is None else student
    student_name = type(student).__name__
    text = "".join(s for it in items for s in (it.example.question, it.example.answer))

    def culprit_of(missing: list[str]) -> str:
        it = next((it for it in items if set(it.example.question + it.example.answer) & set(missing)), None)
        return "-" if it is None else f"{_show(it.example)} from {it.origin}"

    try:
        student.prepare(task)
    except ConfigError as exc:
        raise fail("vocabulary", f"{student_name}.prepare(task) to accept the task", str(exc),
                   culprit_of(student.unencodable(text)),
                   "add the characters to the student's fixed vocabulary (student_options['alphabet']), or leave "
                   "it unset so the student builds its vocabulary from the task") from exc
    missing = student.unencodable(text)
    if missing:
        raise fail("vocabulary", f"{student_name} to encode every character of the task's questions and answers",
                   f"it cannot encode {', '.join(repr(ch) for ch in missing)} (each would read as UNK: the "
                   f"student could never learn to write it)", culprit_of(missing),
                   "override Task.characters() to return the task's exact alphabet (the default samples the "
                   "generators and can miss rare characters), or fix the student's alphabet option")
    passed.append("vocabulary")

    for message in found:
        warnings.warn(f"check_task({name}): {message}", TaskCheckWarning, stacklevel=2)
    return {
        "task": task_name,
        "version": version,
        "skills": len(skills),
        "heldout": {split: sum(len(heldout[split][s]) for s in skills) for split in SPLITS},
        "generated": len(generated),
        "characters": task.characters(),
        "student": student_name,
        "checks": passed,
        "warnings": found,
    }


def _check_examples(task, skills, items, require_difficulty, fail, warn, passed) -> None:
    def first_bad(predicate) -> tuple[int, _Item | None]:
        bad = [it for it in items if predicate(it)]
        return len(bad), (bad[0] if bad else None)

    n, it = first_bad(lambda it: not (isinstance(it.example.question, str) and isinstance(it.example.answer, str)))
    if it is not None:
        raise fail("generate", "string question and answer", f"{n} example(s) with other types",
                   f"{_show(it.example)} from {it.origin}", "make question and answer str")

    n, it = first_bad(lambda it: it.example.skill != it.skill)
    if it is not None:
        raise fail("skill", "each example's skill to be the skill it was asked for (or filed under)",
                   f"{n} example(s) with another skill, the first {it.example.skill!r} instead of {it.skill!r}",
                   f"{_show(it.example)} from {it.origin}", "set Example.skill to the skill argument of generate")
    passed.append("skill")

    labels: dict[int, str] = {}
    for it in items:
        try:
            labels[id(it)] = task.label(it.example.question)
        except OracleError as exc:
            raise fail("oracle_labels", "the oracle (label) to answer every question the task itself writes",
                       f"OracleError: {exc}", f"{_show(it.example)} from {it.origin}",
                       "make label parse every question format generate and build_heldout write") from exc
        except Exception as exc:
            raise fail("oracle_labels", "label(question) to return the answer or raise OracleError",
                       f"{type(exc).__name__}: {exc}", f"{_show(it.example)} from {it.origin}",
                       "raise datagym.errors.OracleError for questions the oracle cannot answer") from exc
    passed.append("oracle_labels")

    n, it = first_bad(lambda it: task.normalize_answer(labels[id(it)]) != labels[id(it)])
    if it is not None:
        gold = labels[id(it)]
        raise fail("label_canonical", "normalize_answer(label(q)) == label(q): the oracle's labels in canonical form",
                   f"label {gold!r}, normalized {task.normalize_answer(gold)!r} ({n} question(s))",
                   f"{_show(it.example)} from {it.origin}",
                   "return labels in the form normalize_answer produces (verification compares against them), "
                   "or make normalize_answer leave them unchanged")
    passed.append("label_canonical")

    n, it = first_bad(lambda it: task.verify(it.example) != ACCEPTED)
    if it is not None:
        gold = labels[id(it)]
        raise fail("oracle_accepts", "task.verify(example) == 'accepted' for every example the task writes",
                   f"{task.verify(it.example)!r}: answer {it.example.answer!r} normalizes to "
                   f"{task.normalize_answer(it.example.answer)!r}, the oracle says {gold!r} ({n} example(s))",
                   f"{_show(it.example)} from {it.origin}",
                   "set each example's answer to label(question), or fix the generator or the oracle, whichever is wrong")
    passed.append("oracle_accepts")

    n, it = first_bad(lambda it: task.normalize_question(it.example.question) != it.example.question)
    if it is not None:
        raise fail("question_form", "normalize_question(q) == q: the task's questions already in its own format",
                   f"{it.example.question!r} normalizes to {task.normalize_question(it.example.question)!r} "
                   f"({n} question(s))", f"{_show(it.example)} from {it.origin}",
                   "write questions in the form normalize_question returns (agent-written questions are trained in "
                   "that form; the default strips surrounding whitespace)")
    passed.append("question_form")

    def bad_difficulty(it: _Item) -> bool:
        d = _difficulty(it.example)
        if d is None:
            return False
        return isinstance(d, bool) or not isinstance(d, numbers.Real) or math.isnan(d) or not 0.0 <= float(d) <= 1.0

    n, it = first_bad(bad_difficulty)
    if it is not None:
        raise fail("difficulty", 'provenance["difficulty"] a float in [0, 1] (or absent)',
                   f"{_difficulty(it.example)!r} ({n} example(s))", f"{_show(it.example)} from {it.origin}",
                   "record the difficulty actually used, clipped to [0, 1]")
    heldout_items = [it for it in items if it.origin.startswith("held-out")]
    lacking = [it for it in heldout_items if _difficulty(it.example) is None]
    if lacking:
        message = (
            f"{len(lacking)} of {len(heldout_items)} held-out examples record no provenance['difficulty'] "
            f"(e.g. {_show(lacking[0].example)}); the difficulty bands (the Skill-List env's difficulty_control=True "
            f"observation, the Skill-Tree env's band nodes) need it and count such questions in every band. Record "
            f"the difficulty in build_heldout, as generate's provenance does."
        )
        if require_difficulty:
            raise fail("difficulty", 'provenance["difficulty"] (a float in [0, 1]) on every held-out example',
                       f"{len(lacking)} of {len(heldout_items)} without one", f"{_show(lacking[0].example)} from "
                       f"{lacking[0].origin}", "record the difficulty used in build_heldout (the difficulty bands need "
                       "it), or call check_task(..., require_difficulty=False) for a task used without them")
        warn(message)
    generated_lacking = [it for it in items if not it.origin.startswith("held-out") and _difficulty(it.example) is None]
    if generated_lacking:
        warn(f"{len(generated_lacking)} generated examples record no provenance['difficulty'] (e.g. "
             f"{_show(generated_lacking[0].example)}); record the difficulty generate used.")
    passed.append("difficulty")

    classified = []
    for it in items:
        try:
            classified.append(task.classify(it.example.question))
        except Exception as exc:
            raise fail("classify", "classify(question) to return a skill or None", f"{type(exc).__name__}: {exc}",
                       f"{_show(it.example)} from {it.origin}", "return None for questions that fit no skill") from exc
    wrong = [(it, c) for it, c in zip(items, classified) if c is not None and c not in skills]
    if wrong:
        it, c = wrong[0]
        raise fail("classify", f"classify(question) to return None or one of {list(skills)}",
                   f"{c!r} ({len(wrong)} question(s))", f"{_show(it.example)} from {it.origin}",
                   "return a leaf skill name (skill_names), or None")
    differ = [(it, c) for it, c in zip(items, classified) if c is not None and c != it.skill]
    if differ:
        it, c = differ[0]
        warn(f"classify puts {len(differ)} of {len(items)} of the task's own questions under another skill "
             f"(e.g. {it.example.question!r}: {c!r}, written as {it.skill!r}).")
    passed.append("classify")


# -- helpers ---------------------------------------------------------------------------------
def _task_label(task: Any) -> str:
    return f"{type(task).__name__} {getattr(task, 'name', '?')!r} v{getattr(task, 'version', '?')}"


def _build(task: Task, fail) -> Any:
    try:
        return task.build_heldout()
    except Exception as exc:
        raise fail("heldout_shape", "build_heldout() to return the held-out sets", f"{type(exc).__name__}: {exc}",
                   "-", "see the exception (chained below)") from exc


def _fresh_instance(task: Task, pristine: Task | None) -> tuple[Task | None, str]:
    """A new instance made with the arguments ``task`` was made with, else an untouched copy, else None."""
    args, kwargs = getattr(task, "_init_args", ((), {}))
    try:
        return type(task)(*args, **kwargs), f"{type(task).__name__}(*{args!r}, **{kwargs!r})"
    except Exception:
        if pristine is None:
            return None, ""
        for attr in ("_heldout", "_test_questions", "_characters"):
            if hasattr(pristine, attr):
                setattr(pristine, attr, None)
        return pristine, "a copy of the task made before the check called it"


def _sample(task: Task, skills: Iterable[str], samples: int, seed: int, fail) -> list[_Item]:
    out = []
    for index, skill in enumerate(skills):
        rng = np.random.default_rng([seed, index])
        for difficulty in DIFFICULTIES:
            for _ in range(samples):
                origin = f"generate({skill!r}, rng, difficulty={difficulty})"
                try:
                    example = task.generate(skill, rng, difficulty)
                except Exception as exc:
                    raise fail("generate", f"generate to return an Example for every skill at difficulty {difficulty}",
                               f"{type(exc).__name__}: {exc}", origin,
                               "handle every skill in skill_names and every difficulty in [0, 1] and None") from exc
                if not isinstance(example, Example):
                    raise fail("generate", "an Example(question, answer, skill, provenance)",
                               f"{type(example).__name__}: {example!r:.120}", origin,
                               "return datagym.types.Example from generate")
                out.append(_Item(example, skill, origin))
    return out


def _difficulty(ex: Example) -> Any:
    return ex.provenance.get("difficulty") if isinstance(ex.provenance, dict) else None


def _key(ex: Example) -> tuple:
    return ex.question, ex.answer, ex.skill, repr(ex.provenance)


def _signature(heldout: dict) -> dict:
    return {split: {skill: [(ex.question, ex.answer) for ex in exs] for skill, exs in heldout[split].items()}
            for split in SPLITS}


def _first_difference(a: dict, b: dict) -> str:
    for split in SPLITS:
        for skill in a[split]:
            left, right = a[split][skill], b[split].get(skill, [])
            for i, (x, y) in enumerate(zip(left, right)):
                if x != y:
                    return f"{split} {skill!r} #{i}: {x!r} then {y!r}"
            if len(left) != len(right):
                return f"{split} {skill!r}: {len(left)} examples then {len(right)}"
    return "-"


def _show(ex: Example) -> str:
    text = f"Example(question={ex.question!r}, answer={ex.answer!r}, skill={ex.skill!r}, provenance={ex.provenance!r})"
    return text if len(text) <= 240 else text[:237] + "..."


def _default_student() -> Student:
    from datagym.students.transformer_student import TransformerStudent

    return TransformerStudent()
