"""TeacherEnv: the Gymnasium env base that owns the teaching loop.

One ``step(action)``: the subclass turns the action into a ``Plan``; the engine generates the
examples; the task's oracle verifies each (rejected examples are counted by reason, never
trained on); examples equal to a test question are dropped and counted; the student trains
on what is left; the student is evaluated on the validation set; the reward is the change in
macro-averaged validation accuracy. Subclasses define the spaces, the action-to-plan mapping
and the observation; everything else lives here once.
"""

from __future__ import annotations

import time
import zlib
from abc import abstractmethod
from collections import Counter
from typing import Any

import gymnasium as gym
import numpy as np

from datagym.engine import ENGINE_VERDICTS, Engine, Plan, ProceduralEngine, make_engine
from datagym.env_config import EnvConfig
from datagym.errors import ConfigError, InvalidActionError
from datagym.registration import make_student, make_task
from datagym.student import SurrogateStudent
from datagym.task import ACCEPTED, Task
from datagym.types import Example

CONTAMINATED = "test_contamination"
#: examples drawn per (skill, difficulty) to estimate a surrogate step's verdict rates
VERDICT_SAMPLE = 256


class TeacherEnv(gym.Env):
    """Base of every datagym env. See the subclasses' docstrings for their spaces."""

    metadata = {"render_modes": ["ansi"]}
    #: how much structure the teacher gets; agents declare the levels they are written for
    level: str = "skill_list"
    #: names of extra keyword arguments a subclass accepts besides EnvConfig's fields
    extra_options: tuple[str, ...] = ()

    def __init__(self, render_mode: str | None = None, engine: Engine | str | None = None, **kwargs: Any) -> None:
        if not isinstance(engine, Engine) and engine is not None:
            kwargs["engine"] = engine  # a name: part of the config (JSON, recorded in config.json)
            engine = None
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"Expected render_mode None or one of {self.metadata['render_modes']}, got {render_mode!r}."
            )
        self.render_mode = render_mode
        self.config, self.options = EnvConfig.from_kwargs(self.extra_options, **kwargs)
        self.task: Task = make_task(self.config.task, **self.config.task_options)
        if self.config.student_resources is not None:
            from datagym.remote_student import RemoteStudent

            self.student = RemoteStudent(
                self.config.student, self.config.student_options, self.config.student_resources
            )
        else:
            self.student = make_student(self.config.student, **self.config.student_options)
        # Once, before any reset: the student sets itself up for the task (the default
        # student builds its vocabulary from the task's characters; ConfigError if it cannot).
        self.student.prepare(self.task)
        self.engine = engine if engine is not None else make_engine(self.config.engine, **self.config.engine_options)
        self.skill_names: tuple[str, ...] = self.task.skill_names
        self._validation = self.task.heldout("validation")
        self._test = self.task.heldout("test")
        # Episode state, set by reset().
        self.accuracy = np.zeros(len(self.skill_names))
        self.loss = np.zeros(len(self.skill_names))
        self.examples_seen = np.zeros(len(self.skill_names), dtype=np.int64)
        self.budget_left = self.config.total_budget
        self.steps = 0
        self.last_examples: list[Example] = []
        self.last_validation = []
        self._needs_reset = True
        self._limit_cache: tuple[Any, int | None, int | None] | None = None  # (spec, its own limit, the limit)
        # A surrogate student (the simulated one) learns from counts: plans of counts alone skip
        # generating text, and evaluation asks the student for every verdict at once.
        self._surrogate = isinstance(self.student, SurrogateStudent)
        self._skill_index = {name: i for i, name in enumerate(self.skill_names)}
        self._default_rates: tuple | None = None  # the rates of a plan without difficulties, kept
        self._verdict_rates: dict[tuple[str, float | None], tuple[tuple[str, ...], np.ndarray, float]] = {}
        self._heldout_skill = {
            split: np.array([i for i, name in enumerate(self.skill_names) for _ in heldout[name]], dtype=np.int64)
            for split, heldout in (("validation", self._validation), ("test", self._test))
        }
        self._heldout_totals = {
            split: np.maximum(np.bincount(skill_of, minlength=len(self.skill_names)), 1)
            for split, skill_of in self._heldout_skill.items()
        }
        # (skills, questions per skill) of a split whose skills hold the same number of questions
        self._heldout_blocks = {
            split: (len(totals), int(totals[0]))
            for split, totals in self._heldout_totals.items()
            if len(totals) and len(self._heldout_skill[split]) == len(totals) * int(totals[0])
            and bool((totals == totals[0]).all())
        }

    # -- what subclasses define ---------------------------------------------------------------
    @abstractmethod
    def _plan_from_action(self, action: Any) -> Plan:
        """Validate ``action`` and turn it into a plan; raise InvalidActionError, change nothing."""

    @abstractmethod
    def _observation(self) -> Any:
        """The observation of the current state."""

    def _on_reset(self) -> None:
        """Hook for subclass episode state."""

    # -- the loop ---------------------------------------------------------------------------
    #: keys ``reset(options=...)`` accepts; none so far (settings belong to ``gym.make``)
    reset_options: tuple[str, ...] = ()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        unknown = sorted(set(options or {}) - set(self.reset_options))
        if unknown:
            raise ConfigError(
                f"Unknown reset option(s) {unknown}; expected some of {list(self.reset_options)}. "
                f"Env settings are gym.make() keyword arguments."
            )
        super().reset(seed=seed)
        self.student.reset(int(self.np_random.integers(2**31 - 1)))
        self.examples_seen[:] = 0
        self.budget_left = self.config.total_budget
        self.steps = 0
        self.last_examples = []
        if hasattr(self.engine, "reset"):
            self.engine.reset()  # e.g. the LLM engine forgets the episode's training questions
        self._on_reset()
        t0 = time.perf_counter()
        self.accuracy = self._evaluate(self._validation, keep_records=True)
        self._needs_reset = False
        info = {
            "student/accuracy": self._per_skill(self.accuracy),
            "student/macro_accuracy": float(self.accuracy.mean()),
            "student/loss": self._per_skill(self.loss),
            "teacher/budget_left": self.budget_left,
            "time/evaluate": time.perf_counter() - t0,
        }
        return self._observation(), self._strip_timings(info)

    def step(self, action: Any):
        if self._needs_reset:
            raise RuntimeError("The episode is over (or never began): call env.reset() before env.step().")
        t_start = time.perf_counter()
        plan = self._plan_from_action(action)
        plan_size = plan.size
        if plan_size > self.budget_left:
            raise InvalidActionError(
                f"Expected a plan of at most {self.budget_left} examples (the budget left), got {plan_size}."
            )

        if self._surrogate and not plan.examples and not plan.requests and type(self.engine) is ProceduralEngine:
            # The fast path: no text. The verdicts are drawn at the rates the task's own
            # generators and oracle give (contamination included), the student trains on counts.
            t0 = time.perf_counter()
            examples, examples_from_engine = [], False
            accepted_counts, verdicts = self._simulated_verdicts(plan)
            t_generate, t_verify = time.perf_counter() - t0, 0.0
            t0 = time.perf_counter()
            difficulty = (
                np.array([plan.difficulty.get(name, np.nan) for name in self.skill_names]) if plan.difficulty else None
            )
            n_generated, n_accepted = int(sum(verdicts.values())), verdicts.get(ACCEPTED, 0)
            train_stats = self.student.train_counts(accepted_counts, difficulty) if n_accepted else {}
            t_train = time.perf_counter() - t0
        else:
            t0 = time.perf_counter()
            examples = self.engine.generate(plan, self.task, self.np_random)
            t_generate = time.perf_counter() - t0
            examples_from_engine = True

            t0 = time.perf_counter()
            accepted = self._verify(examples)
            t_verify = time.perf_counter() - t0

            t0 = time.perf_counter()
            train_stats = self.student.train(accepted) if accepted else {}
            t_train = time.perf_counter() - t0
            index = {name: i for i, name in enumerate(self.skill_names)}
            accepted_counts = np.zeros(len(self.skill_names), dtype=np.int64)
            for ex in accepted:
                if ex.skill in index:
                    accepted_counts[index[ex.skill]] += 1
            verdicts = Counter(ex.verdict for ex in examples)
            n_generated, n_accepted = len(examples), len(accepted)

        t0 = time.perf_counter()
        n_skills = len(self.skill_names)
        previous = float(np.add.reduce(self.accuracy) / n_skills)  # = mean(), bit for bit, without its overhead
        self.accuracy = self._evaluate(self._validation, keep_records=True)
        t_evaluate = time.perf_counter() - t0

        self.examples_seen += accepted_counts
        self.budget_left -= plan_size
        self.steps += 1
        self.last_examples = examples
        macro = float(np.add.reduce(self.accuracy) / n_skills)
        reward = macro - previous
        terminated = self.budget_left <= 0
        limit = self._step_limit()
        episode_ends = terminated or (limit is not None and self.steps >= limit)

        info: dict[str, Any] = {
            "student/accuracy": self._per_skill(self.accuracy),
            "student/macro_accuracy": macro,
            "student/loss": self._per_skill(self.loss),
            "student/train_loss": float(train_stats.get("loss", float("nan"))),
            # a plan with a count vector was made with whole, non-zero counts: its dict is the record
            "teacher/requested": (
                dict(plan.counts) if plan.count_vector is not None else {k: int(v) for k, v in plan.counts.items() if v}
            ),
            "teacher/generated": n_generated,
            "teacher/accepted": n_accepted,
            "teacher/rejected": {k: v for k, v in sorted(verdicts.items()) if k != ACCEPTED},
            "teacher/budget_left": self.budget_left,
        }
        timings = self.config.timings  # with timings off, no time/ key is written (none to strip)
        if timings:
            info["time/generate"], info["time/verify"] = t_generate, t_verify
            info["time/train"], info["time/evaluate"] = t_train, t_evaluate
        if examples_from_engine and hasattr(self.engine, "step_info"):
            # e.g. the LLM engine's requests and tokens (engine/llm_...); stripped of any time/ keys
            info.update(self._strip_timings(self.engine.step_info()))
        if episode_ends:
            t0 = time.perf_counter()
            info.update(self.test_metrics())
            if timings:
                info["time/test"] = time.perf_counter() - t0
        if terminated:
            self._needs_reset = True
        if timings:
            info["time/step"] = time.perf_counter() - t_start
        return self._observation(), reward, terminated, False, info

    def _step_limit(self) -> int | None:
        # gymnasium.make hands the limit to its TimeLimit wrapper and clears it on the env's own
        # spec, so read the registered one (the env reports test scores when the wrapper stops it).
        spec = self.spec
        if spec is None:
            return None
        cached = self._limit_cache  # looked up once per spec: the registry lookup costs most of a microsecond
        if cached is not None and cached[0] is spec and cached[1] == spec.max_episode_steps:
            return cached[2]
        if spec.max_episode_steps is not None:
            limit = spec.max_episode_steps
        else:
            registered = gym.registry.get(spec.id)
            limit = registered.max_episode_steps if registered is not None else None
        self._limit_cache = (spec, spec.max_episode_steps, limit)
        return limit

    def _strip_timings(self, info: dict[str, Any]) -> dict[str, Any]:
        # Wall-clock seconds can never repeat exactly; with timings off, info is deterministic
        # and Gymnasium's determinism check passes on the whole of it.
        if self.config.timings:
            return info
        return {k: v for k, v in info.items() if not k.startswith("time/")}

    def test_metrics(self) -> dict[str, Any]:
        """The student's accuracy on the held-out test set (the final score)."""
        acc = self._evaluate(self._test, keep_records=False)
        return {"student/test_accuracy": self._per_skill(acc), "student/test_macro_accuracy": float(acc.mean())}

    # -- helpers ----------------------------------------------------------------------------
    def _verify(self, examples: list[Example]) -> list[Example]:
        accepted = []
        for ex in examples:
            if ex.verdict in ENGINE_VERDICTS:  # the engine rejected it already (a duplicate, a problem never written)
                continue
            verdict = self.task.verify(ex)
            if verdict == ACCEPTED and self.task.is_test_question(ex.question):
                verdict = CONTAMINATED
            ex.verdict = verdict
            if verdict == ACCEPTED:
                accepted.append(ex)
        return accepted

    def _simulated_verdicts(self, plan: Plan) -> tuple[np.ndarray, dict[str, int]]:
        """Accepted examples per skill, and the verdict counts, of a plan of counts that is not
        generated: each skill's examples are split over verdicts at the rates measured on the
        task's generators at that difficulty (``_verdict_rate``)."""
        counts = plan.count_vector
        if counts is None:
            if not self._skill_index.keys() >= plan.counts.keys():
                unknown = [skill for skill in plan.counts if skill not in self._skill_index]
                raise InvalidActionError(f"Expected plan counts over the task's skills, got {sorted(unknown)}.")
            counts = np.array([plan.counts.get(name, 0) for name in self.skill_names], dtype=np.int64)
        if plan.difficulty or self._default_rates is None:
            rates = [self._verdict_rate(name, plan.difficulty.get(name)) for name in self.skill_names]
            p_accept = np.array([rate[2] for rate in rates])
            # where every skill has one rejection reason at most, the rejected ones are summed per reason at once
            reasons = sorted({r for rate in rates for r in rate[0]})
            reason_of = np.array([reasons.index(rate[0][0]) if len(rate[0]) == 1 else -1 for rate in rates])
            single = all(len(rate[0]) <= 1 for rate in rates)
            if not plan.difficulty:
                self._default_rates = (rates, p_accept, reasons, reason_of, single)
        else:
            rates, p_accept, reasons, reason_of, single = self._default_rates
        accepted = self.np_random.binomial(counts, p_accept)
        n_accepted = int(accepted.sum())
        verdicts: dict[str, int] = {ACCEPTED: n_accepted} if n_accepted else {}
        rejected = counts - accepted
        if single:
            if reasons:
                has = reason_of >= 0
                per_reason = np.bincount(reason_of[has], weights=rejected[has], minlength=len(reasons))
                verdicts.update((name, int(k)) for name, k in zip(reasons, per_reason) if k)
            return accepted, verdicts
        for i in np.flatnonzero(rejected):
            # the rejected ones split over the rejection reasons in proportion
            names, probs, _ = rates[i]
            if len(names) == 1:
                verdicts[names[0]] = verdicts.get(names[0], 0) + int(rejected[i])
                continue
            for reason, k in zip(names, self.np_random.multinomial(rejected[i], probs / probs.sum())):
                if k:
                    verdicts[reason] = verdicts.get(reason, 0) + int(k)
        return accepted, verdicts

    def _verdict_rate(self, skill: str, difficulty: float | None) -> tuple[tuple[str, ...], np.ndarray, float]:
        """The rejection reasons of ``skill``'s generated examples at ``difficulty`` (None: drawn at
        random), their rates, and the acceptance rate, measured once on a fixed sample."""
        # rates change slowly with difficulty: measured at the nearest tenth
        key = (skill, None if difficulty is None else round(float(difficulty), 1))
        cached = self._verdict_rates.get(key)
        if cached is None:
            # A fixed sample per (task, skill, difficulty), independent of the episode's draws.
            rng = np.random.default_rng([zlib.crc32(f"{self.task.name}/{self.task.version}/{key}".encode())])
            sample = [self.task.generate(skill, rng, key[1]) for _ in range(VERDICT_SAMPLE)]
            self._verify(sample)  # sets each example's verdict
            counts = Counter(ex.verdict for ex in sample if ex.verdict != ACCEPTED)
            names = tuple(sorted(counts))
            probs = np.array([counts[n] for n in names], dtype=np.float64) / len(sample)
            cached = (names, probs, 1.0 - float(probs.sum()))
            self._verdict_rates[key] = cached
        return cached

    @property
    def last_validation(self) -> list[dict]:
        """The latest validation evaluation, a record per question (skill, question, prediction,
        gold, correct, difficulty, loss)."""
        if self._last_validation is None:
            self._last_validation = self._surrogate_records()
        return self._last_validation

    @last_validation.setter
    def last_validation(self, records: list[dict]) -> None:
        self._last_validation = records

    def _surrogate_records(self) -> list[dict]:
        correct, losses = self._surrogate_scores
        items = [ex for name in self.skill_names for ex in self._validation[name]]
        predictions = self.student.predict([ex.question for ex in items])
        return [
            {
                "skill": ex.skill,
                "question": ex.question,
                "prediction": pred,
                "gold": ex.answer,
                "correct": bool(ok),
                "difficulty": ex.provenance.get("difficulty"),
                "loss": float(value),
            }
            for ex, pred, ok, value in zip(items, predictions, correct, losses)
        ]

    def _evaluate(self, heldout: dict[str, list[Example]], keep_records: bool) -> np.ndarray:
        split = "validation" if heldout is self._validation else "test" if heldout is self._test else None
        if self._surrogate and split is not None:
            correct, losses = self.student.score(split)
            skill_of, totals = self._heldout_skill[split], self._heldout_totals[split]
            n = len(self.skill_names)
            if keep_records:
                self.loss = np.bincount(skill_of, weights=losses, minlength=n) / totals
                # records are built when something reads them (the Open-Ended observation does)
                self._surrogate_scores = (correct, losses)
                self._last_validation = None
            per_skill = self._heldout_blocks.get(split)
            if per_skill is not None:  # equal held-out sets, skill by skill: a whole-number count, exact either way
                return np.add.reduce(correct.reshape(per_skill), axis=1) / totals
            return np.bincount(skill_of, weights=correct, minlength=n) / totals
        items = [(i, ex) for i, name in enumerate(self.skill_names) for ex in heldout[name]]
        predictions = self.student.predict([ex.question for _, ex in items])
        correct = np.zeros(len(self.skill_names))
        totals = np.zeros(len(self.skill_names))
        records = []
        graded = self.task.grade_many([ex for _, ex in items], predictions)
        for (i, ex), pred, ok in zip(items, predictions, graded):
            ok = bool(ok)
            correct[i] += ok
            totals[i] += 1
            if keep_records:
                records.append(
                    {
                        "skill": ex.skill,
                        "question": ex.question,
                        "prediction": pred,
                        "gold": ex.answer,
                        "correct": ok,
                        "difficulty": ex.provenance.get("difficulty"),
                    }
                )
        if keep_records:
            self.last_validation = records
            # The graded score next to exact match: mean answer NLL per skill.
            losses = self.student.loss([ex for _, ex in items])
            per_skill = np.zeros(len(self.skill_names))
            for (i, _), value, record in zip(items, losses, records):
                per_skill[i] += value
                record["loss"] = float(value)  # per question, so envs can score slices of a skill
            self.loss = per_skill / np.maximum(totals, 1)
        return correct / np.maximum(totals, 1)

    def _per_skill(self, values: np.ndarray) -> dict[str, float]:
        return dict(zip(self.skill_names, np.asarray(values, dtype=np.float64).tolist()))

    def close(self) -> None:
        """Free the student's outside resources (its Ray actor, its vLLM engine)."""
        close = getattr(self.student, "close", None)  # a user's student need not subclass Student
        if callable(close):
            close()
        super().close()

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        width = max(len(n) for n in self.skill_names)
        lines = [f"step {self.steps}  budget left {self.budget_left}  macro {self.accuracy.mean():.3f}"]
        for name, acc, seen in zip(self.skill_names, self.accuracy, self.examples_seen):
            lines.append(f"  {name:<{width}}  {acc:5.2f}  {'#' * int(round(acc * 20)):<20}  seen {seen}")
        return "\n".join(lines)
