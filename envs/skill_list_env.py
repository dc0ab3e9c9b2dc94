"""The Skill-List env: per-skill scores in, a per-skill data allocation out."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from datagym.action_validation import (
    real_vector,
    require_dict,
    require_finite,
    require_finite_non_negative,
    require_within,
)
from datagym.allocation import round_shares
from datagym.engine import Plan
from datagym.errors import ConfigError
from datagym.teacher_env import TeacherEnv


#: the observation's loss is clipped here (an untrained student scores about 3.4 nats)
MAX_LOSS = 100.0

#: with ``difficulty_control=True`` the observation scores each skill in this many equal bands
#: of validation-question difficulty: [0, 0.25), [0.25, 0.5), [0.5, 0.75), [0.75, 1]
DIFFICULTY_BANDS = 4

#: the two keys of the action with ``difficulty_control=True``
ACTION_KEYS = ("weights", "difficulty")
#: where the skill names an action's entries follow are, as messages tell the user
SKILL_NAMES = "env.unwrapped.skill_names"


def difficulty_band(difficulty: float, bands: int = DIFFICULTY_BANDS) -> int:
    """The band (0 .. bands - 1) a difficulty in [0, 1] falls in; 1.0 is in the last band."""
    return min(int(float(difficulty) * bands), bands - 1)


def allocate(weights: np.ndarray, total: int, top: float | None = None) -> np.ndarray:
    """Split ``total`` examples in proportion to ``weights`` (largest remainder, ties to the
    lower index), so the counts always sum to exactly ``total``. ``top`` is ``weights.max()``
    where the caller has it already."""
    weights = weights / (np.maximum.reduce(weights) if top is None else top)  # a sum of huge weights must not overflow to inf
    return round_shares(weights / np.add.reduce(weights) * total, total)


class SkillListEnv(TeacherEnv):
    """Teach a student by choosing how much data of each skill to generate (and, optionally,
    how hard).

    ## Description
    DataEnvGym's Skill-List environment. Each step the teacher splits the step's data budget
    over the task's skills; the env generates that many examples per skill with the task's
    generators, verifies each with the oracle, drops any equal to a test question, trains the
    student on the rest and evaluates it on the fixed validation set. With
    ``difficulty_control=True`` the teacher also sets each skill's difficulty (the task
    generators' knob in [0, 1]; for arithmetic it widens the operand ranges), so a curriculum
    can move over (skill, difficulty) rather than over skills alone.

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
    With ``difficulty_control=True`` only, two more keys score each skill by the difficulty of
    its validation questions, in ``DIFFICULTY_BANDS = 4`` equal bands ([0, 0.25), [0.25, 0.5),
    [0.5, 0.75), [0.75, 1]; for arithmetic about 12 of a skill's 50 questions each):
    - ``accuracy_by_difficulty``: ``Box(0, 1, (n_skills, 4), float32)``;
    - ``loss_by_difficulty``: ``Box(0, 100, (n_skills, 4), float32)``.
    A band with no validation question holds the skill's overall score; a question whose task
    records no difficulty counts in every band. These are what a difficulty-aware teacher
    (``alp_gmm``) measures its competence with.
    Skill order is ``env.unwrapped.skill_names``.

    ## Action
    ``Box(0, 1, (n_skills,), float32)``: a non-negative weight per skill. Weights are relative
    (any finite non-negative values work, however large; they are normalised by their maximum
    first), and are turned into counts that fill ``min(step_budget, budget_left)`` exactly. An
    all-zero action is allowed and documented: it generates nothing and spends nothing (the
    student is not trained that step). Every example's difficulty is drawn uniformly in [0, 1].

    Accepted: a numpy array of bool, signed or unsigned int, or float of any width (float16 to
    float128), or a list or tuple of Python bool/int/float or numpy scalars of those kinds, of
    shape ``(n_skills,)`` (``datagym.action_validation``, shared with the Skill-Tree env).
    Anything else raises ``InvalidActionError`` (a ``ValueError``) naming what came in, and
    leaves the env as it was: ``None``, text (numeric strings too: ``["0.5"] * 15``), bytes,
    complex numbers, ``datetime64``/``timedelta64``, object arrays, ragged or too deeply
    nested lists, dicts, torch tensors (convert with ``.detach().cpu().numpy()``) and other
    array types (``np.asarray(...)``), a Python int too large for a float (``10**400``), a
    wrong shape, NaN, infinity or a negative weight. Messages are at most 300 characters.

    With ``difficulty_control=True`` the action is ``Dict({"weights": Box(0, 1, (n_skills,)),
    "difficulty": Box(0, 1, (n_skills,))})`` (float32): the weights as above, and the
    difficulty in [0, 1] at which each skill's examples of this step are generated (0: the
    easiest the skill allows, 1: the hardest; a skill with zero weight ignores it, but it must
    still be valid). Each value is accepted as the weights are. A non-dict action, missing or
    extra keys (keys are ``str``), a value that is not real numbers as above, a wrong shape,
    NaN, infinity, a negative weight or a difficulty outside [0, 1] raise
    ``InvalidActionError`` and leave the env as it was. The difficulty each example was made
    at is in its ``provenance["difficulty"]`` (``env.unwrapped.last_examples``).

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
    ``student_options``, ``step_budget`` (default 384; the v1 Arithmetic envs register 768), ``total_budget``
    (default 3840; v1: 7680),
    ``timings``; ``difficulty_control`` (default ``False``: the action also sets a difficulty
    per skill, and the observation adds the per-difficulty-band scores; off, the env is exactly
    as without the option); and ``render_mode`` (``None`` or ``"ansi"``).

    ## Version history
    - v0: first release; 15 arithmetic skills, the 2-layer transformer student.
    - v0, later: the opt-in ``difficulty_control`` option. Off (the default) the spaces and
      episodes are unchanged, so the version did not go up.
    - v1: the default student is now 64 wide, trained on mixed batches of 32 with fused AdamW,
      answers written least-significant digit first, threads "auto" (``V0_SETTINGS`` in
      ``datagym.students.transformer_student`` lists what changed), and the Arithmetic envs
      spend 7680 examples, 768 a step (v0: 3840, 384). Spaces keep their keys and shapes
      (the budget bounds follow the budgets); the reward is unchanged.
      `uniform` ends the Skill-List episode at about 0.4 macro test accuracy instead of 0.12,
      so teachers have room to differ both ways. v0 stays registered and reproduces exactly
      (student ``transformer_v0``).

    ## Example
    >>> import gymnasium as gym, datagym
    >>> env = gym.make("datagym/Arithmetic-SkillList-v1", total_budget=256, step_budget=128,
    ...                student_options={"epochs": 1})
    >>> obs, info = env.reset(seed=0)
    >>> obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    >>> sorted(obs)
    ['accuracy', 'budget_left', 'examples_seen', 'loss']
    >>> env = gym.make("datagym/Arithmetic-SkillList-v1", total_budget=256, step_budget=128,
    ...                student_options={"epochs": 1}, difficulty_control=True)
    >>> obs, info = env.reset(seed=0)
    >>> n = len(env.unwrapped.skill_names)
    >>> action = {"weights": np.ones(n, np.float32), "difficulty": np.full(n, 0.2, np.float32)}
    >>> obs, reward, terminated, truncated, info = env.step(action)
    >>> {ex.provenance["difficulty"] for ex in env.unwrapped.last_examples}
    {0.2}
    >>> obs["accuracy_by_difficulty"].shape
    (15, 4)
    """

    level = "skill_list"
    extra_options = ("difficulty_control",)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        control = self.options.get("difficulty_control", False)
        if not isinstance(control, bool):
            raise ConfigError(f"Expected difficulty_control to be true or false, got {control!r}.")
        self.difficulty_control: bool = control
        self._band_index: tuple[np.ndarray, np.ndarray] | None = None
        n = len(self.skill_names)
        total = float(self.config.total_budget)
        weights = spaces.Box(0.0, 1.0, shape=(n,), dtype=np.float32)
        observation = {
            "accuracy": spaces.Box(0.0, 1.0, shape=(n,), dtype=np.float32),
            "examples_seen": spaces.Box(0.0, total, shape=(n,), dtype=np.float32),
            "budget_left": spaces.Box(0.0, total, shape=(1,), dtype=np.float32),
            "loss": spaces.Box(0.0, MAX_LOSS, shape=(n,), dtype=np.float32),
        }
        if control:
            self.action_space = spaces.Dict(
                {"weights": weights, "difficulty": spaces.Box(0.0, 1.0, shape=(n,), dtype=np.float32)}
            )
            bands = (n, DIFFICULTY_BANDS)
            observation["accuracy_by_difficulty"] = spaces.Box(0.0, 1.0, shape=bands, dtype=np.float32)
            observation["loss_by_difficulty"] = spaces.Box(0.0, MAX_LOSS, shape=bands, dtype=np.float32)
        else:
            self.action_space = weights
        self.observation_space = spaces.Dict(observation)

    # -- the action ---------------------------------------------------------------------------
    def _plan_from_action(self, action: Any) -> Plan:
        if self.difficulty_control:
            weights, difficulty = self._split_dict_action(action)
        else:
            weights, difficulty = self._weights(action, "action"), None
        top = np.maximum.reduce(weights)  # the weights are non-negative: all zero is a top of 0
        if top == 0:
            return Plan()
        counts = allocate(weights, min(self.config.step_budget, self.budget_left), top)
        plan = Plan(counts={name: c for name, c in zip(self.skill_names, counts.tolist()) if c}, count_vector=counts)
        if difficulty is not None:
            plan.difficulty = {name: float(difficulty[i]) for i, name in enumerate(self.skill_names) if counts[i]}
        return plan

    def _weights(self, action: Any, what: str) -> np.ndarray:
        """``action`` (called ``what`` in messages) as validated per-skill weights."""
        weights = real_vector(
            action, label=what, length=len(self.skill_names), per="one weight per skill", names_attr=SKILL_NAMES
        )
        require_finite_non_negative(weights, self.skill_names, "weights")
        return weights

    def _split_dict_action(self, action: Any) -> tuple[np.ndarray, np.ndarray]:
        """The weights and difficulties of a ``difficulty_control`` action, validated."""
        action = require_dict(
            action,
            ACTION_KEYS,
            why=" (the env has difficulty_control=True)",
            fix="Pass {'weights': one weight per skill, 'difficulty': one difficulty in [0, 1] per skill}.",
        )
        weights = self._weights(action["weights"], "action['weights']")
        difficulty = real_vector(
            action["difficulty"],
            label="action['difficulty']",
            length=len(self.skill_names),
            per="one difficulty in [0, 1] per skill",
            names_attr=SKILL_NAMES,
        )
        require_finite(difficulty, self.skill_names, "difficulties")
        require_within(difficulty, self.skill_names, "difficulties", 0.0, 1.0)
        return weights, difficulty

    # -- the observation ----------------------------------------------------------------------
    def _observation(self) -> dict[str, np.ndarray]:
        obs = {
            "accuracy": self.accuracy.astype(np.float32),
            "examples_seen": self.examples_seen.astype(np.float32),
            "budget_left": np.array([self.budget_left], dtype=np.float32),
            # = np.clip(loss, 0, MAX_LOSS) (NaN stays NaN) without np.clip's wrapper
            "loss": np.minimum(np.maximum(self.loss, 0.0), MAX_LOSS).astype(np.float32),
        }
        if self.difficulty_control:
            accuracy, loss = self.scores_by_difficulty()
            obs["accuracy_by_difficulty"] = accuracy.astype(np.float32)
            obs["loss_by_difficulty"] = np.clip(loss, 0.0, MAX_LOSS).astype(np.float32)
        return obs

    def scores_by_difficulty(self) -> tuple[np.ndarray, np.ndarray]:
        """Validation accuracy and loss per (skill, difficulty band), from the latest evaluation.

        A band without questions takes the skill's overall score; a question without a recorded
        difficulty counts in every band.
        """
        if self._surrogate:
            return self._surrogate_scores_by_difficulty()
        n = len(self.skill_names)
        index = {name: i for i, name in enumerate(self.skill_names)}
        correct = np.zeros((n, DIFFICULTY_BANDS))
        loss = np.zeros((n, DIFFICULTY_BANDS))
        count = np.zeros((n, DIFFICULTY_BANDS))
        for record in self.last_validation:
            i = index.get(record["skill"])
            if i is None:
                continue
            d = record.get("difficulty")
            bands = slice(None) if d is None else difficulty_band(d)
            correct[i, bands] += float(record["correct"])
            loss[i, bands] += float(record["loss"])
            count[i, bands] += 1
        return self._fill_empty_bands(correct, loss, count)

    def _fill_empty_bands(self, correct: np.ndarray, loss: np.ndarray, count: np.ndarray):
        empty = count == 0
        safe = np.maximum(count, 1)
        accuracy = np.where(empty, self.accuracy[:, None], correct / safe)
        mean_loss = np.where(empty, self.loss[:, None], loss / safe)
        return accuracy, mean_loss

    def _surrogate_scores_by_difficulty(self) -> tuple[np.ndarray, np.ndarray]:
        """``scores_by_difficulty`` from the surrogate student's arrays (no per-question records)."""
        if self._band_index is None:
            skill_of = self._heldout_skill["validation"]
            items = [ex for name in self.skill_names for ex in self._validation[name]]
            difficulty = [ex.provenance.get("difficulty") for ex in items]
            # a question without a difficulty counts in every band: one row per (question, band)
            rows, cells = [], []
            for q, (i, d) in enumerate(zip(skill_of, difficulty)):
                for band in (range(DIFFICULTY_BANDS) if d is None else [difficulty_band(d)]):
                    rows.append(q)
                    cells.append(i * DIFFICULTY_BANDS + band)
            self._band_index = (np.array(rows), np.array(cells))
        rows, cells = self._band_index
        correct, losses = self._surrogate_scores
        size = len(self.skill_names) * DIFFICULTY_BANDS
        shape = (len(self.skill_names), DIFFICULTY_BANDS)
        count = np.bincount(cells, minlength=size).reshape(shape)
        right = np.bincount(cells, weights=np.asarray(correct, dtype=np.float64)[rows], minlength=size).reshape(shape)
        loss = np.bincount(cells, weights=np.asarray(losses, dtype=np.float64)[rows], minlength=size).reshape(shape)
        return self._fill_empty_bands(right, loss, count)
