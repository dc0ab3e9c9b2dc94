"""The Skill-List env: per-skill scores in, a per-skill data allocation out."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from datagym.engine import Plan
from datagym.errors import InvalidActionError
from datagym.teacher_env import TeacherEnv


#: the observation's loss is clipped here (an untrained student scores about 3.4 nats)
MAX_LOSS = 100.0


def allocate(weights: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` examples in proportion to ``weights`` (largest remainder, ties to the
    lower index), so the counts always sum to exactly ``total``."""
    weights = weights / weights.max()  # a sum of huge weights must not overflow to inf
    share = weights / weights.sum() * total
    counts = np.floor(share).astype(np.int64)
    remainder = int(total - counts.sum())
    if remainder:
        order = np.lexsort((np.arange(len(share)), -(share - counts)))
        counts[order[:remainder]] += 1
    return counts


class SkillListEnv(TeacherEnv):
    """Teach a student by choosing how much data of each skill to generate.

    ## Description
    DataEnvGym's Skill-List environment. Each step the teacher splits the step's data budget
    over the task's skills; the env generates that many examples per skill with the task's
    generators, verifies each with the oracle, drops any equal to a test question, trains the
    student on the rest and evaluates it on the fixed validation set.

    ## Observation
    ``Dict``:
    - ``accuracy``: ``Box(0, 1, (n_skills,), float32)``, validation accuracy per skill;
    - ``examples_seen``: ``Box(0, total_budget, (n_skills,), float32)``, accepted training
      examples per skill so far this episode;
    - ``budget_left``: ``Box(0, total_budget, (1,), float32)``, examples the teacher may still
      generate;
    - ``loss``: ``Box(0, 100, (n_skills,), float32)``, the student's mean validation loss per
      skill (negative log-likelihood of the gold answer, nats per answer token): a graded
      score that shows progress before exact-match accuracy moves.
    Skill order is ``env.unwrapped.skill_names``.

    ## Action
    ``Box(0, 1, (n_skills,), float32)``: a non-negative weight per skill. Weights are relative
    (any finite non-negative values work; they are normalised), and are turned into counts that
    fill ``min(step_budget, budget_left)`` exactly. An all-zero action is allowed and documented:
    it generates nothing and spends nothing (the student is not trained that step). A wrong
    shape, NaN, infinity or a negative weight raises ``InvalidActionError`` (a ``ValueError``)
    and leaves the env as it was.

    ## Reward
    The change in macro-averaged validation accuracy since the previous step.

    ## Episode end
    Terminated when the total budget is spent; truncated at the registered step limit
    (``max_episode_steps=20``, which only a teacher that withholds data reaches). On the last
    step ``info`` also holds ``student/test_accuracy`` and ``student/test_macro_accuracy``.

    ## Info
    ``student/accuracy`` (per skill), ``student/macro_accuracy``, ``student/loss`` (per skill),
    ``student/train_loss``,
    ``teacher/requested`` (per skill), ``teacher/generated``, ``teacher/accepted``,
    ``teacher/rejected`` (reason -> count), ``teacher/budget_left``, ``time/generate``,
    ``time/verify``, ``time/train``, ``time/evaluate``, ``time/step``.

    ## Arguments
    Every field of ``datagym.env_config.EnvConfig``: ``task``, ``task_options``, ``student``,
    ``student_options``, ``step_budget`` (default 384), ``total_budget`` (default 3840);
    and ``render_mode`` (``None`` or ``"ansi"``).

    ## Version history
    - v0: first release; 15 arithmetic skills, the 2-layer transformer student.

    ## Example
    >>> import gymnasium as gym, datagym
    >>> env = gym.make("datagym/Arithmetic-SkillList-v0", total_budget=256, step_budget=128,
    ...                student_options={"epochs": 1})
    >>> obs, info = env.reset(seed=0)
    >>> obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    >>> sorted(obs)
    ['accuracy', 'budget_left', 'examples_seen', 'loss']
    """

    level = "skill_list"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        n = len(self.skill_names)
        total = float(self.config.total_budget)
        self.action_space = spaces.Box(0.0, 1.0, shape=(n,), dtype=np.float32)
        self.observation_space = spaces.Dict(
            {
                "accuracy": spaces.Box(0.0, 1.0, shape=(n,), dtype=np.float32),
                "examples_seen": spaces.Box(0.0, total, shape=(n,), dtype=np.float32),
                "budget_left": spaces.Box(0.0, total, shape=(1,), dtype=np.float32),
                "loss": spaces.Box(0.0, MAX_LOSS, shape=(n,), dtype=np.float32),
            }
        )

    def _plan_from_action(self, action: Any) -> Plan:
        n = len(self.skill_names)
        try:
            weights = np.asarray(action, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidActionError(
                f"Expected action of shape ({n},) with one non-negative weight per skill, got "
                f"{type(action).__name__} that is not numeric. Skills: env.unwrapped.skill_names."
            ) from None
        if weights.shape != (n,):
            raise InvalidActionError(
                f"Expected action of shape ({n},), got {weights.shape}. Pass one weight per skill: "
                f"env.unwrapped.skill_names."
            )
        if not np.all(np.isfinite(weights)):
            bad = [self.skill_names[i] for i in np.flatnonzero(~np.isfinite(weights))]
            raise InvalidActionError(f"Expected finite weights, got NaN or infinity for {bad}.")
        if np.any(weights < 0):
            bad = {self.skill_names[i]: float(weights[i]) for i in np.flatnonzero(weights < 0)}
            raise InvalidActionError(f"Expected non-negative weights, got negative ones: {bad}.")
        if weights.sum() == 0:
            return Plan()
        counts = allocate(weights, min(self.config.step_budget, self.budget_left))
        return Plan(counts={name: int(c) for name, c in zip(self.skill_names, counts) if c})

    def _observation(self) -> dict[str, np.ndarray]:
        return {
            "accuracy": self.accuracy.astype(np.float32),
            "examples_seen": self.examples_seen.astype(np.float32),
            "budget_left": np.array([self.budget_left], dtype=np.float32),
            "loss": np.clip(self.loss, 0.0, MAX_LOSS).astype(np.float32),
        }
