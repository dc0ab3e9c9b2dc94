"""The Open-Ended env: the student's errors in, problems to train on out, both as JSON text."""

from __future__ import annotations

import json
import math
import re
import string
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import numpy as np
from gymnasium import spaces

from datagym.engine import Plan
from datagym.action_validation import require_str
from datagym.errors import ConfigError, OracleError
from datagym.teacher_env import TeacherEnv
from datagym.types import Example

#: the observation's characters: JSON written with ``ensure_ascii=True`` is printable ASCII
OBSERVATION_CHARSET = "".join(chr(c) for c in range(32, 127))
#: the action's characters: what an LLM writes (printable ASCII, whitespace, Latin-1 letters,
#: typographic quotes and dashes, common math signs). The env reads any string; this is the
#: space ``action_space.sample()`` draws from and ``contains`` checks.
ACTION_CHARSET = (
    "".join(chr(c) for c in range(32, 127))
    + "\t\n\r"
    + "".join(chr(c) for c in range(0xA0, 0x100))
    + "\u2010\u2011\u2012\u2013\u2014\u2018\u2019\u201c\u201d\u2022\u2026\u2032\u2033"
    + "\u2212\u2215\u2217\u221a\u221e\u2248\u2260\u2264\u2265\u22c5\u2190\u2192"
    + "\u03b1\u03b2\u03b3\u03b4\u03b8\u03bb\u03bc\u03c0\u03c3"
)
#: characters of one text field (question, answer, skill) in the observation, JSON-escaped
MAX_FIELD_CHARS = 256
#: the longest question (characters) the env reads from an action; longer ones are malformed
#: (a task whose questions are longer sets its own ``max_question_chars``, as HumanEval does)
MAX_QUESTION_CHARS = 1024
#: the longest answer (characters) the env reads from an action (a task's ``max_answer_chars``)
MAX_ANSWER_CHARS = 256
#: the skill given to an accepted problem that ``task.classify`` places in no skill
UNCLASSIFIED = "unclassified"
#: how the env treats an agent-written answer that the oracle finds wrong
WRONG_ANSWER_POLICIES = ("correct", "reject")

_JUNK = string.ascii_letters + string.digits + string.punctuation
#: Unicode categories a question may not contain: control, format, surrogate, private, unassigned
_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
_FENCE = re.compile(r"```[ \t]*[A-Za-z0-9_+-]*[ \t]*\r?\n?(.*?)```", re.DOTALL)
_MAX_FENCES = 8


class ProblemText(spaces.Text):
    """The action space: ``Text`` whose ``sample()`` is an action a state-blind random teacher
    would write, so that random rollouts (Gymnasium's env checker, determinism tests) exercise
    the whole loop rather than only the malformed-text path.

    ``sample()`` returns a JSON list of ``step_budget // 2`` to ``step_budget`` problems from the
    task's generators for a random (flat Dirichlet) mixture of skills, all drawn from this
    space's ``np_random``. Most carry their answer; about one in five has none (the oracle
    fills it in), one in ten a wrong answer, one in twenty a junk question; the first is always
    a clean, answered problem. Any other string of the charset is just as much an element of
    the space (``contains``), and the env reads any string. ``sample(mask=...)`` and
    ``sample(probability=...)`` are ``Text``'s own character-level sampling.
    """

    def __init__(self, max_length: int, *, task: Any, step_budget: int, charset: str) -> None:
        super().__init__(max_length, min_length=0, charset=charset)
        self.task = task
        self.step_budget = int(step_budget)

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        if mask is not None or probability is not None:
            return super().sample(mask=mask, probability=probability)
        rng = self.np_random
        skills = self.task.skill_names
        mixture = rng.dirichlet(np.ones(len(skills)))
        count = int(rng.integers(max(1, self.step_budget // 2), self.step_budget + 1))
        problems: list[dict[str, str]] = []
        for k in range(count):
            example = self.task.generate(skills[int(rng.choice(len(skills), p=mixture))], rng)
            roll = float(rng.random()) if k else 1.0
            if roll < 0.05:
                junk = rng.choice(list(_JUNK), size=int(rng.integers(1, 24)))
                problems.append({"question": "".join(junk)})
            elif roll < 0.15:
                problems.append({"question": example.question, "answer": example.answer + "0"})
            elif roll < 0.35:
                problems.append({"question": example.question})
            else:
                problems.append({"question": example.question, "answer": example.answer})
        text = json.dumps(problems, ensure_ascii=True)
        while len(text) > self.max_length and problems:  # long questions of some other task
            problems.pop()
            text = json.dumps(problems, ensure_ascii=True)
        return text


@dataclass
class _ActionReport:
    """What the env made of one text action; it becomes ``info``'s ``teacher/`` keys."""

    malformed: Counter = field(default_factory=Counter)
    dropped: Counter = field(default_factory=Counter)
    problems: int = 0
    labelled: int = 0
    corrected: int = 0
    json_from: str | None = None
    requested: Counter = field(default_factory=Counter)

    def info(self) -> dict[str, Any]:
        return {
            "teacher/json_from": self.json_from,
            "teacher/problems": self.problems,
            "teacher/malformed": dict(sorted(self.malformed.items())),
            "teacher/dropped": dict(sorted(self.dropped.items())),
            "teacher/labelled": self.labelled,
            "teacher/corrected": self.corrected,
            "teacher/requested": dict(self.requested),
        }


class OpenEndedEnv(TeacherEnv):
    """Teach a student by writing the problems it trains on, shown the questions it gets wrong.

    ## Description
    DataEnvGym's Open-Ended environment, for any task with an oracle. Each step the teacher
    sees a sample of the student's current errors on the validation set and answers with
    problems (questions, optionally with answers) as JSON text. The env labels every question
    with the task's oracle, so nothing is trained on with a wrong answer; drops any problem
    equal to a test question; trains the student on the rest; evaluates it on the fixed
    validation set. Nothing is asked of the teacher's text except that it contain JSON: text
    the env cannot use is counted in ``info`` and skipped, never an exception.

    ## Observation
    ``Text`` (printable ASCII, at most ``observation_space.max_length`` characters): a JSON
    object, written with ``ensure_ascii=True``::

        {"budget_left": 3840,          # examples the teacher may still spend this episode
         "step_budget": 384,           # most problems one step may take
         "max_problems": 384,          # min(step_budget, budget_left): what this step takes
         "total_budget": 3840,
         "errors_total": 693,          # validation questions the student gets wrong, all skills
         "skills": {"add_no_carry": {"errors": 48, "total": 50, "accuracy": 0.04,
                                     "loss": 2.3104, "seen": 0}, ...},
         "errors": [{"skill": "add_no_carry", "question": "23+45",
                     "student_answer": "61", "gold_answer": "68"}, ...]}

    ``skills`` has every skill of the task, in ``env.unwrapped.skill_names`` order: wrong
    answers, questions, accuracy (4 decimals) and mean answer loss (nats per answer token,
    clipped to [0, 100], 4 decimals) on the validation set, and accepted training examples so
    far (``seen``). ``errors`` is a sample of at most ``max_errors`` of the wrong answers, drawn
    without replacement from the env's ``np_random`` (so the same seed shows the same sample)
    and listed in skill order; each text field is cut to 256 characters of escaped JSON.

    ## Action
    ``Text`` (``ACTION_CHARSET``: printable ASCII, tab and newlines, Latin-1, typographic
    quotes and dashes, common math signs; up to ``max(65536, 256 * step_budget)``
    characters): problems as JSON, either a list or an object with a ``problems`` list::

        [{"question": "27+58", "answer": "85"}, {"question": "64-29"}, "13*7"]

    Each problem is an object with a ``question`` string and an optional ``answer`` (a string
    or a number), or a bare question string; other fields are ignored. The env also finds the
    JSON inside ```` ```json ```` fences and after leading prose (the first ``[`` or ``{``).
    The first ``min(step_budget, budget_left)`` well-formed problems are taken, in order:

    - each question is first put in the task's own format (``task.normalize_question``; for
      arithmetic whitespace goes and the signs × ⋅ ÷ − become ``*`` ``/`` ``-``, so
      ``"12 × 7"`` trains as ``"12*7"``, like the held-out questions); the text as written is
      kept in the example's provenance (``agent_question``);
    - the oracle labels each question; a question it cannot label is rejected
      (``teacher/rejected["unparseable"]``);
    - a question without an answer gets the oracle's (``teacher/labelled``); an answer the
      oracle agrees with is kept in the task's canonical form; a wrong answer is replaced by
      the oracle's (``wrong_answers="correct"``, counted in ``teacher/corrected``) or the
      problem is rejected (``wrong_answers="reject"``, ``teacher/rejected["wrong_answer"]``);
    - a question equal to a test question (whitespace ignored) is dropped
      (``teacher/rejected["test_contamination"]``);
    - each problem's skill is ``task.classify(question)``, or ``"unclassified"`` when it fits
      no skill or the oracle cannot label it;
      questions are trained on as written (outer whitespace removed).

    Well-formed problems beyond ``min(step_budget, budget_left)`` are dropped
    (``teacher/dropped["over_budget"]``). Text the env cannot use is counted in
    ``teacher/malformed`` by reason: ``text_too_long`` (over the space's ``max_length``; not
    read), ``empty``, ``not_json``, ``not_a_problem_list`` (JSON, but neither a list nor an
    object with a ``problems`` list or a ``question``), and per problem
    ``problem_not_object``, ``missing_question``, ``question_not_text``, ``empty_question``,
    ``question_too_long`` (over 1024 characters, or the task's ``max_question_chars``), ``question_not_printable`` (control
    characters other than tab and newlines, format, surrogate, private-use or unassigned
    characters), ``answer_not_text`` (an answer neither text nor a number, or over 256
    characters, or the task's ``max_answer_chars``). A malformed problem is skipped; the rest of the action is still used.
    An action that is not a ``str`` at all (``None``, an int, bytes) raises
    ``InvalidActionError`` (a ``ValueError``) and leaves the env as it was.

    **Budget.** A step is charged one example for every well-formed problem it takes, accepted
    or rejected by the oracle or the contamination guard: writing problems the oracle cannot
    label costs budget, as generating them would. Malformed problems and dropped ones are not
    charged. A step that takes nothing charges nothing and trains nothing (the step limit then
    ends the episode).

    ## Reward
    The change in macro-averaged validation accuracy since the previous step.

    ## Episode end
    Terminated when the total budget is spent; truncated at the registered step limit
    (``max_episode_steps=20``). On the last step ``info`` also holds ``student/test_accuracy``
    and ``student/test_macro_accuracy``.

    ## Info
    As the Skill-List env (``student/accuracy``, ``student/macro_accuracy``, ``student/loss``,
    ``student/train_loss``, ``teacher/generated`` (problems taken), ``teacher/accepted``,
    ``teacher/rejected`` (reason -> count), ``teacher/budget_left``, ``time/...``), and:
    ``teacher/requested`` (problems taken per classified skill), ``teacher/problems``
    (well-formed problems read), ``teacher/malformed`` (reason -> count),
    ``teacher/dropped`` (reason -> count), ``teacher/labelled``, ``teacher/corrected``,
    ``teacher/json_from`` (``"text"``, ``"fence"``, ``"embedded"`` or ``None``).
    ``env.unwrapped.last_examples`` holds the step's problems as ``Example`` s with their
    verdicts; each one's ``provenance`` records the agent's own answer.

    ## Arguments
    Every field of ``datagym.env_config.EnvConfig`` (``task``, ``task_options``, ``student``,
    ``student_options``, ``step_budget`` (384; the v1 Arithmetic envs register 768), ``total_budget`` (3840; v1: 7680), ``timings``), and
    ``max_errors`` (int >= 0, default 32): wrong answers shown in the observation;
    ``wrong_answers`` (``"correct"`` (default) or ``"reject"``): what happens to an
    agent-written answer the oracle finds wrong; ``render_mode`` (``None`` or ``"ansi"``).

    ## Version history
    - v0: first release; the Arithmetic task, the 2-layer transformer student.
    - v1: the default student is now 64 wide, trained on mixed batches of 32 with fused AdamW,
      answers written least-significant digit first, threads "auto" (``V0_SETTINGS`` in
      ``datagym.students.transformer_student`` lists what changed), and the Arithmetic envs
      spend 7680 examples, 768 a step (v0: 3840, 384). Spaces keep their keys and shapes
      (the budget bounds follow the budgets); the reward is unchanged.
      `uniform` ends the Skill-List episode at about 0.4 macro test accuracy instead of 0.12,
      so teachers have room to differ both ways. v0 stays registered and reproduces exactly
      (student ``transformer_v0``).

    ## Example
    >>> import json, gymnasium as gym, datagym
    >>> env = gym.make("datagym/Arithmetic-OpenEnded-v1", total_budget=64, step_budget=32,
    ...                student_options={"epochs": 1})
    >>> obs, info = env.reset(seed=0)
    >>> sorted(json.loads(obs))[:3]
    ['budget_left', 'errors', 'errors_total']
    >>> action = json.dumps([{"question": "27+58", "answer": "84"}, {"question": "64-29"}])
    >>> obs, reward, terminated, truncated, info = env.step(action)
    >>> info["teacher/accepted"], info["teacher/corrected"], info["teacher/labelled"]
    (2, 1, 1)
    """

    level = "open_ended"
    extra_options = ("max_errors", "wrong_answers")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        max_errors = self.options.get("max_errors", 32)
        if isinstance(max_errors, bool) or not isinstance(max_errors, int) or not 0 <= max_errors <= 4096:
            raise ConfigError(f"Expected max_errors to be an integer in [0, 4096], got {max_errors!r}.")
        wrong_answers = self.options.get("wrong_answers", "correct")
        if wrong_answers not in WRONG_ANSWER_POLICIES:
            raise ConfigError(
                f"Expected wrong_answers to be one of {list(WRONG_ANSWER_POLICIES)}, got {wrong_answers!r}."
            )
        self.max_errors: int = max_errors
        self.wrong_answers: str = wrong_answers
        self._max_question_chars = int(getattr(self.task, "max_question_chars", MAX_QUESTION_CHARS))
        self._max_answer_chars = int(getattr(self.task, "max_answer_chars", MAX_ANSWER_CHARS))
        self._validation_sizes = {name: len(self._validation[name]) for name in self.skill_names}
        self.action_space = ProblemText(
            max(65536, 256 * self.config.step_budget),
            task=self.task,
            step_budget=self.config.step_budget,
            charset=ACTION_CHARSET,
        )
        self.observation_space = spaces.Text(
            self._observation_bound(), min_length=2, charset=OBSERVATION_CHARSET
        )
        self._observation_rng = np.random.default_rng(0)
        self._report = _ActionReport()

    # -- episode ----------------------------------------------------------------------------
    def _on_reset(self) -> None:
        # Its own stream, seeded from np_random, so max_errors never shifts the data stream.
        self._observation_rng = np.random.default_rng(int(self.np_random.integers(2**63 - 1)))

    def step(self, action: Any):
        # Checked before the base's checks so that nothing, not even the report, changes.
        require_action_text(action)
        obs, reward, terminated, truncated, info = super().step(action)
        info.update(self._report.info())
        return obs, reward, terminated, truncated, info

    # -- action -----------------------------------------------------------------------------
    def _plan_from_action(self, action: Any) -> Plan:
        require_action_text(action)  # step() checks first; here for direct callers
        report = _ActionReport()
        capacity = min(self.config.step_budget, self.budget_left)
        examples: list[Example] = []
        for question, answer in self._read_problems(action, report):
            report.problems += 1
            if len(examples) >= capacity:
                report.dropped["over_budget"] += 1
                continue
            example = self._label(question, answer, report)
            report.requested[example.skill] += 1
            examples.append(example)
        self._report = report
        return Plan(examples=examples)

    def _read_problems(self, text: str, report: _ActionReport):
        """Yield (question, answer or None) for each well-formed problem in ``text``."""
        if len(text) > self.action_space.max_length:
            report.malformed["text_too_long"] += 1
            return
        if not text.strip():
            report.malformed["empty"] += 1
            return
        parsed = _load_json(text)
        if parsed is None:
            report.malformed["not_json"] += 1
            return
        value, report.json_from = parsed
        if isinstance(value, dict) and isinstance(value.get("problems"), list):
            items = value["problems"]
        elif isinstance(value, dict) and "question" in value:
            items = [value]
        elif isinstance(value, list):
            items = value
        else:
            report.malformed["not_a_problem_list"] += 1
            return
        for item in items:
            problem = _read_problem(item, self._max_question_chars, self._max_answer_chars)
            if isinstance(problem, str):
                report.malformed[problem] += 1
            else:
                yield problem

    def _label(self, question: str, answer: str | None, report: _ActionReport) -> Example:
        """The problem as an Example, answered by the oracle where that is the policy."""
        provenance: dict[str, Any] = {"source": "agent", "agent_answer": answer, "answer_from": None}
        written, question = question, self.task.normalize_question(question)
        if question != written:
            provenance["agent_question"] = written
        try:
            gold = self.task.label(question)
        except OracleError:
            # No skill for a question without an answer; the base's verification rejects it.
            return Example(question, answer or "", UNCLASSIFIED, provenance)
        try:
            skill = self.task.classify(question) or UNCLASSIFIED
        except OracleError:
            skill = UNCLASSIFIED
        if answer is None:
            report.labelled += 1
            provenance["answer_from"] = "oracle"
            return Example(question, gold, skill, provenance)
        if self.task.normalize_answer(answer) == gold:
            provenance["answer_from"] = "agent"
            return Example(question, gold, skill, provenance)
        if self.wrong_answers == "correct":
            report.corrected += 1
            provenance["answer_from"] = "oracle_corrected"
            return Example(question, gold, skill, provenance)
        provenance["answer_from"] = "agent"
        return Example(question, answer, skill, provenance)  # verification rejects it

    # -- observation ------------------------------------------------------------------------
    def _observation(self) -> str:
        records = self.last_validation
        errors = [r for r in records if not r["correct"]]
        wrong = Counter(r["skill"] for r in errors)
        shown_count = min(self.max_errors, len(errors))
        chosen = (
            np.sort(self._observation_rng.choice(len(errors), size=shown_count, replace=False))
            if shown_count
            else []
        )
        shown = [
            {
                "skill": _clip(str(errors[i]["skill"])),
                "question": _clip(str(errors[i]["question"])),
                "student_answer": _clip(str(errors[i]["prediction"])),
                "gold_answer": _clip(str(errors[i]["gold"])),
            }
            for i in chosen
        ]
        skills = {
            name: {
                "errors": int(wrong.get(name, 0)),
                "total": self._validation_sizes[name],
                "accuracy": round(float(self.accuracy[i]), 4),
                "loss": _loss(float(self.loss[i])),
                "seen": int(self.examples_seen[i]),
            }
            for i, name in enumerate(self.skill_names)
        }
        return self._dump(
            budget_left=int(self.budget_left),
            errors_total=len(errors),
            skills=skills,
            errors=shown,
        )

    def _dump(self, budget_left: int, errors_total: int, skills: dict, errors: list) -> str:
        document = {
            "budget_left": budget_left,
            "step_budget": self.config.step_budget,
            "max_problems": max(0, min(self.config.step_budget, budget_left)),
            "total_budget": self.config.total_budget,
            "errors_total": errors_total,
            "skills": skills,
            "errors": errors,
        }
        return json.dumps(document, ensure_ascii=True, separators=(", ", ": "))

    def _observation_bound(self) -> int:
        """An upper bound of the observation's length: every field at its widest."""
        widest_skill = max(self.skill_names, key=lambda n: len(json.dumps(n)))
        skills = {
            name: {"errors": size, "total": size, "accuracy": 0.1234, "loss": 99.1234, "seen": self.config.total_budget}
            for name, size in self._validation_sizes.items()
        }
        wide = "x" * MAX_FIELD_CHARS
        errors = [
            {"skill": wide if len(widest_skill) > MAX_FIELD_CHARS else widest_skill,
             "question": wide, "student_answer": wide, "gold_answer": wide}
        ] * self.max_errors
        text = self._dump(self.config.total_budget, sum(self._validation_sizes.values()), skills, errors)
        return len(text) + 64


def _read_problem(
    item: Any, max_question_chars: int = MAX_QUESTION_CHARS, max_answer_chars: int = MAX_ANSWER_CHARS
) -> tuple[str, str | None] | str:
    """(question, answer or None) from one item of the problem list, or why it is malformed. The
    answer keeps the indentation of its first line (a code completion's body needs it); its
    leading blank lines and trailing whitespace go."""
    if isinstance(item, str):
        question, answer = item, None
    elif isinstance(item, dict):
        if "question" not in item:
            return "missing_question"
        question, answer = item["question"], item.get("answer")
        if not isinstance(question, str):
            return "question_not_text"
    else:
        return "problem_not_object"
    question = question.strip()
    if not question:
        return "empty_question"
    if len(question) > max_question_chars:
        return "question_too_long"
    if any(unicodedata.category(ch) in _UNPRINTABLE and ch not in "\t\n\r" for ch in question):
        return "question_not_printable"
    if answer is None:
        return question, None
    if isinstance(answer, bool) or not isinstance(answer, (str, int, float)):
        return "answer_not_text"
    if isinstance(answer, float):
        answer = str(int(answer)) if math.isfinite(answer) and answer.is_integer() and abs(answer) < 1e15 else repr(answer)
    elif isinstance(answer, int):
        answer = str(answer)
    lines = answer.rstrip().split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    answer = "\n".join(lines)
    if len(answer) > max_answer_chars:
        return "answer_not_text"
    return question, (answer or None)


def _load_json(text: str) -> tuple[Any, str] | None:
    """The JSON value in ``text`` and where it was found: the whole text, a fence, or after prose."""
    try:
        return json.loads(text), "text"
    except (ValueError, RecursionError):
        pass
    for match in islice(_FENCE.finditer(text), _MAX_FENCES):
        try:
            return json.loads(match.group(1)), "fence"
        except (ValueError, RecursionError):
            continue
    decoder = json.JSONDecoder()
    for start in sorted(i for i in (text.find("["), text.find("{")) if i >= 0):
        try:
            return decoder.raw_decode(text, start)[0], "embedded"
        except (ValueError, RecursionError):
            continue
    return None


def _clip(text: str) -> str:
    """The longest prefix of ``text`` whose escaped JSON is at most MAX_FIELD_CHARS characters."""
    if len(text) <= MAX_FIELD_CHARS and len(json.dumps(text, ensure_ascii=True)) <= MAX_FIELD_CHARS + 2:
        return text
    out, used = [], 0
    for ch in text:
        width = len(json.dumps(ch, ensure_ascii=True)) - 2
        if used + width > MAX_FIELD_CHARS:
            break
        out.append(ch)
        used += width
    return "".join(out)


def _loss(value: float) -> float:
    # NaN would not be JSON; an undefined loss reads as the worst.
    return 100.0 if not math.isfinite(value) else round(min(max(value, 0.0), 100.0), 4)


def require_action_text(action: Any) -> str:
    """The action if it is a ``str``; else an ``InvalidActionError`` naming its type (short)."""
    return require_str(
        action,
        'action to be a str holding JSON problems, e.g. \'[{"question": "27+58", "answer": "85"}]\'',
        "Write problems with json.dumps(...).",
    )
