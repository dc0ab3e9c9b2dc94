"""A simulated student: a fast parametric model of how the default student learns.

RL teachers need millions of env steps; one real step trains a transformer for seconds. This
student answers in microseconds instead, from a model calibrated on the real student's runs
(``datagym calibrate``, ``datagym.calibration``). It is a full ``Student``, so every env and
level takes it (``gym.make(id, student="simulated")``); the env's fast path
(``SurrogateStudent``) skips generating and decoding text where a plan is only counts.

The model, per skill ``s`` (every quantity calibrated, names as in the parameter file):

- **experience** ``E_s``: the examples of ``s`` trained on. Training on ``N`` examples of which
  ``n_s`` are of ``s`` first decays it, ``E_s *= exp(-forgetting * (N - n_s) / 1000)``
  (forgetting under continual training on other skills), then adds ``n_s``;
- **transfer**: the experience that counts for ``s`` is
  ``X_s = E_s + transfer_family * (E of the other skills of its family)
  + transfer_all * (E of every other skill)``;
- **accuracy** of a question of difficulty ``d``: ``accuracy_ceiling_s * sigmoid(accuracy_slope_s
  * (log(1 + X_s) - accuracy_midpoint_s) - difficulty_slope * (d - mean difficulty of the
  skill's held-out questions))``: a learning curve in log data that some skills never climb
  within a budget (a low ceiling or a far midpoint), and harder questions are missed first;
  a seed draws each skill's midpoint shifted by ``N(0, seed_sd)``, so skills learn earlier on
  some seeds than on others, as the real student's do;
- **loss** (mean answer NLL, the graded score the envs observe), a stretched exponential:
  ``loss_s = loss_floor_s + (initial_loss - loss_floor_s) * exp(-(X_s / loss_scale_s) **
  loss_shape_s)``. Loss and accuracy are separate curves of the same experience: the real
  student's exact-match accuracy on a hard skill creeps up while its mean loss stalls;
- **evaluation**: each held-out question is answered right when a uniform draw falls below its
  accuracy (so a skill's score is a sum of 50 Bernoulli draws, like the real student's on its 50
  questions), and each skill's loss gets multiplicative noise ``exp(N(0, loss_noise))``.
  The draws are fixed per training round: evaluating the same state twice answers the same,
  as the real student (greedy decoding) does.

``predict`` and ``loss`` answer consistently with that state: a held-out question gets exactly
the answer the evaluation counted; any other question (an agent's own problem) is classified
and labelled by the task's oracle and answered right with its skill's accuracy. A wrong answer
is another answer of the same skill's held-out set, so it looks like a real mistake.

Skills the parameter file does not know (another task) take the median of the calibrated
skills' parameters, and the student logs that once.
"""

from __future__ import annotations

import copy
import json
import logging
import zlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
from scipy.special import expit

from datagym.errors import ConfigError
from datagym.student import TRAINING_MODES, SurrogateStudent, config_from_kwargs
from datagym.types import Example

if TYPE_CHECKING:
    from datagym.task import Task

logger = logging.getLogger(__name__)

#: the parameter file that ships with the package: fitted to the v1 envs' default student
DEFAULT_PARAMETERS = "simulated_arithmetic_v1.json"
PARAMETER_FORMAT = 1

#: per-skill parameters, in the order of a parameter vector
SKILL_PARAMETERS = (
    "accuracy_ceiling", "accuracy_slope", "accuracy_midpoint", "loss_floor", "loss_scale", "loss_shape",
)
#: parameters shared by every skill
GLOBAL_PARAMETERS = (
    "initial_loss", "transfer_family", "transfer_all", "forgetting", "seed_sd", "difficulty_slope", "loss_noise",
)
#: difficulty of a question that records none
DEFAULT_DIFFICULTY = 0.5
#: the split ids that seed the evaluation draws
SPLITS = {"validation": 1, "test": 2, "other": 3}
#: training rounds whose evaluation draws are made at once, per split: a 10-step episode's 11
#: validations in one block; the test set is scored about once an episode
DRAW_BLOCKS = {"validation": 11, "test": 1}


def sigmoid(x: np.ndarray) -> np.ndarray:
    return expit(x)


@dataclass
class SimulatorParameters:
    """The calibrated model: global values and one dict of ``SKILL_PARAMETERS`` per skill."""

    globals: dict[str, float]
    skills: dict[str, dict[str, float]]
    #: where the values came from (runs, env, fit report); free-form, written by calibration
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [k for k in GLOBAL_PARAMETERS if k not in self.globals]
        if missing:
            raise ConfigError(f"Expected simulator global parameters {list(GLOBAL_PARAMETERS)}; missing {missing}.")
        for skill, values in self.skills.items():
            missing = [k for k in SKILL_PARAMETERS if k not in values]
            if missing:
                raise ConfigError(
                    f"Expected simulator parameters {list(SKILL_PARAMETERS)} for skill {skill!r}; missing {missing}."
                )
        if not self.skills:
            raise ConfigError("Expected simulator parameters for at least one skill, got none.")

    def skill_values(self, skill: str) -> dict[str, float]:
        """The skill's parameters; the median over calibrated skills for one it does not know."""
        if skill in self.skills:
            return self.skills[skill]
        return {k: float(np.median([v[k] for v in self.skills.values()])) for k in SKILL_PARAMETERS}

    def to_json(self) -> dict[str, Any]:
        return {"format": PARAMETER_FORMAT, "globals": dict(self.globals), "skills": copy.deepcopy(self.skills),
                "meta": copy.deepcopy(self.meta)}

    @classmethod
    def from_json(cls, data: Any, source: str = "parameters") -> "SimulatorParameters":
        if not isinstance(data, dict) or data.get("format") != PARAMETER_FORMAT:
            raise ConfigError(
                f"Expected simulator parameters of format {PARAMETER_FORMAT} (a dict with 'globals' and 'skills') "
                f"in {source}, got {str(data)[:120]!r}."
            )
        return cls(
            globals={k: float(v) for k, v in data["globals"].items()},
            skills={s: {k: float(v) for k, v in vals.items()} for s, vals in data["skills"].items()},
            meta=data.get("meta", {}),
        )

    @classmethod
    def load(cls, path: str | Path | None = None) -> "SimulatorParameters":
        """The parameter file at ``path``, or the one that ships with the package."""
        if path is None:
            text = resources.files("datagym.students").joinpath(DEFAULT_PARAMETERS).read_text(encoding="utf-8")
            return cls.from_json(json.loads(text), source=DEFAULT_PARAMETERS)
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"Expected a simulator parameter file at {str(path)!r}; there is none.") from None
        except ValueError as exc:
            raise ConfigError(f"Expected JSON simulator parameters in {str(path)!r}; it does not parse: {exc}.") from None
        return cls.from_json(data, source=repr(str(path)))


class SkillModel:
    """The model's equations over arrays of skills: what calibration fits and the student runs."""

    def __init__(self, params: SimulatorParameters, skill_names: Sequence[str], families: Sequence[str]) -> None:
        self.skill_names = tuple(skill_names)
        values = [params.skill_values(s) for s in self.skill_names]
        self.per_skill = {k: np.array([v[k] for v in values], dtype=np.float64) for k in SKILL_PARAMETERS}
        self.g = dict(params.globals)
        fam = np.asarray(families)
        same = fam[:, None] == fam[None, :]
        n = len(self.skill_names)
        eye = np.eye(n, dtype=bool)
        # X = T @ E: own experience, plus the family's, plus everyone's
        self.transfer = (
            eye.astype(np.float64)
            + self.g["transfer_family"] * (same & ~eye)
            + self.g["transfer_all"] * (~same)
        )

        # the equations' constants, once (the simulator's speed is in these few lines)
        self._forget_rate = -self.g["forgetting"] / 1000.0
        self._transfer_t = np.ascontiguousarray(self.transfer.T)
        self._inverse_scale = 1.0 / self.per_skill["loss_scale"]
        self._loss_span = self.g["initial_loss"] - self.per_skill["loss_floor"]

    def decay(self, experience: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Experience after a training call on ``counts`` (before adding them): forgetting."""
        return experience * np.exp(self._forget_rate * (np.add.reduce(counts) - counts))

    def effective(self, experience: np.ndarray) -> np.ndarray:
        """The experience that counts for each skill: its own plus what transfers (``X``)."""
        return experience @ self._transfer_t

    def loss(self, x: np.ndarray) -> np.ndarray:
        decay = np.exp(-((x * self._inverse_scale) ** self.per_skill["loss_shape"]))
        return self.per_skill["loss_floor"] + self._loss_span * decay

    def logit(self, x: np.ndarray, midpoint_shift: np.ndarray | float = 0.0) -> np.ndarray:
        """Per skill, the accuracy logit (before the ceiling) of a question of the skill's mean
        held-out difficulty."""
        logit = self.per_skill["accuracy_slope"] * (np.log1p(x) - (self.per_skill["accuracy_midpoint"] + midpoint_shift))
        # a skill the student has no experience of at all is never answered right (an untrained
        # network writes noise): the real student starts every episode at 0
        return np.where(x > 0, logit, -np.inf)


@dataclass
class SimulatedStudentConfig:
    """Settings of the simulated student."""

    parameters: str | None = None  # a parameter file from `datagym calibrate`; None: the packaged v1 fit
    mode: str = "continual"  # continual (calibrated) | retrain: all data so far every step, so nothing is forgotten
    evaluation_noise: bool = True  # False: score each question by its expected accuracy (no Bernoulli draws)

    def __post_init__(self) -> None:
        if self.mode not in TRAINING_MODES:
            raise ConfigError(f"Expected student mode one of {TRAINING_MODES}, got {self.mode!r}.")
        if self.parameters is not None and not isinstance(self.parameters, str):
            raise ConfigError(f"Expected parameters to be a file path or None, got {self.parameters!r}.")
        if not isinstance(self.evaluation_noise, bool):
            raise ConfigError(f"Expected evaluation_noise to be true or false, got {self.evaluation_noise!r}.")

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> "SimulatedStudentConfig":
        return config_from_kwargs(cls, kwargs)


class _Heldout:
    """One split's questions as arrays, in the env's order (skill by skill)."""

    def __init__(self, examples_by_skill: dict[str, list[Example]], skill_names: Sequence[str]) -> None:
        index = {name: i for i, name in enumerate(skill_names)}
        self.examples = [ex for name in skill_names for ex in examples_by_skill.get(name, [])]
        self.skill = np.array([index[ex.skill] for ex in self.examples], dtype=np.int64)
        difficulty = np.array(
            [_difficulty(ex) for ex in self.examples], dtype=np.float64
        )
        n = len(skill_names)
        counts = np.bincount(self.skill, minlength=n)
        means = np.bincount(self.skill, weights=difficulty, minlength=n) / np.maximum(counts, 1)
        self.offset = difficulty - means[self.skill]
        self.position = {_key(ex.question): i for i, ex in enumerate(self.examples)}


def _difficulty(example: Example) -> float:
    d = example.provenance.get("difficulty") if example.provenance else None
    return float(d) if isinstance(d, (int, float)) and not isinstance(d, bool) else DEFAULT_DIFFICULTY


def _key(question: str) -> str:
    return "".join(question.split())


class SimulatedStudent(SurrogateStudent):
    """The calibrated surrogate of the default student (student ``"simulated"``)."""

    def __init__(self, config: SimulatedStudentConfig | None = None, **kwargs: Any) -> None:
        if config is not None and kwargs:
            raise ConfigError("Pass either a SimulatedStudentConfig or keyword options, not both.")
        self.config = config or SimulatedStudentConfig.from_kwargs(**kwargs)
        self.mode = self.config.mode
        self.params = SimulatorParameters.load(self.config.parameters)
        self.task: Task | None = None
        self._seed: int | None = None

    # -- set-up ---------------------------------------------------------------------------------
    def prepare(self, task: "Task") -> None:
        self.task = task
        self.skill_names = tuple(task.skill_names)
        self._index = {name: i for i, name in enumerate(self.skill_names)}
        families = [self._family(task, name) for name in self.skill_names]
        unknown = [s for s in self.skill_names if s not in self.params.skills]
        if unknown:
            logger.info("simulated student: no calibrated parameters for %s; using the calibrated skills' median",
                        unknown)
        self.model = SkillModel(self.params, self.skill_names, families)
        self._heldout = {
            split: _Heldout(task.heldout(split), self.skill_names) for split in ("validation", "test")
        }
        # per question: its skill's ceiling, and how much its difficulty lowers its logit
        self._question_terms = {
            split: (self.model.per_skill["accuracy_ceiling"][h.skill], self.model.g["difficulty_slope"] * h.offset)
            for split, h in self._heldout.items()
        }
        # a wrong answer is another gold answer of the same skill
        self._answers: list[list[str]] = [[] for _ in self.skill_names]
        for split in ("validation", "test"):
            for name, examples in task.heldout(split).items():
                if name in self._index:
                    bucket = self._answers[self._index[name]]
                    for ex in examples:
                        if ex.answer not in bucket:
                            bucket.append(ex.answer)

    @staticmethod
    def _family(task: "Task", skill: str) -> str:
        tree = task.skill_tree
        for node in tree.walk():
            if skill in tree.children_of(node):
                return node
        return skill

    def _require_prepared(self) -> None:
        if self.task is None or self._seed is None:
            raise RuntimeError("The simulated student needs prepare(task) and reset(seed) before use.")

    # -- the episode state ------------------------------------------------------------------------
    def reset(self, seed: int) -> None:
        if self.task is None:
            raise RuntimeError("The simulated student needs prepare(task) before reset(seed).")
        self._seed = int(seed)
        rng = np.random.default_rng([self._seed, 0x5151])
        n = len(self.skill_names)
        self._shift = rng.normal(0.0, self.model.g["seed_sd"], size=n)  # this seed's midpoint shift per skill
        self._experience = np.zeros(n)
        self._history = np.zeros(n)  # every example trained on so far (retrain mode)
        self._round = 0
        self._state_round = -1
        self._cache: dict[str, tuple[int, np.ndarray, np.ndarray]] = {}  # split -> (block, uniforms, noise)

    def train_counts(self, counts: np.ndarray, difficulty: np.ndarray | None = None) -> dict[str, float]:
        """Train on ``counts[i]`` examples of skill ``i`` (``difficulty`` is accepted for the
        interface; the calibrated model's training does not depend on it)."""
        self._require_prepared()
        counts = np.asarray(counts, dtype=np.float64)
        if counts.shape != (len(self.skill_names),) or not np.minimum.reduce(counts) >= 0:
            raise ValueError(
                f"Expected {len(self.skill_names)} non-negative counts (one per skill), got {counts!r}."
            )
        if self.mode == "retrain":
            self._history = self._history + counts
            self._experience = self._history.copy()
        else:
            self._experience = self.model.decay(self._experience, counts) + counts
        self._round += 1
        # the loss of the data trained on, after training (what the real student's last epoch is near)
        total = np.add.reduce(counts)
        loss = float(counts @ self._skill_loss() / total) if total else float("nan")
        return {"loss": loss, "updates": float(total)}

    def train(self, examples: Sequence[Example]) -> dict[str, float]:
        self._require_prepared()
        counts = np.zeros(len(self.skill_names))
        for ex in examples:
            i = self._index.get(ex.skill)
            if i is None:
                i = self._index.get(self.task.classify(ex.question) or "")
            if i is not None:
                counts[i] += 1
        return self.train_counts(counts)

    # -- answers --------------------------------------------------------------------------------
    def _state(self) -> tuple[np.ndarray, np.ndarray]:
        """Each skill's loss and accuracy logit in the current state (computed once a round)."""
        if self._state_round != self._round:
            x = self.model.effective(self._experience)
            self._state_cache = (self.model.loss(x), self.model.logit(x, self._shift))
            self._state_round = self._round
        return self._state_cache

    def _skill_loss(self) -> np.ndarray:
        return self._state()[0]

    def _skill_accuracy(self) -> np.ndarray:
        """Each skill's accuracy on a question of its mean held-out difficulty."""
        return self.model.per_skill["accuracy_ceiling"] * sigmoid(self._state()[1])

    def _draws(self, split: str, size: int) -> tuple[np.ndarray, np.ndarray]:
        """This round's uniforms for the questions of ``split`` and its per-skill loss noise: a
        function of (seed, round, split) alone, drawn for ``DRAW_BLOCKS[split]`` rounds at a time."""
        rounds = DRAW_BLOCKS.get(split, 1)
        block, row = divmod(self._round, rounds)
        cached = self._cache.get(split)
        if cached is None or cached[0] != block or cached[1].shape[1] < size:
            rng = np.random.default_rng([self._seed, block, SPLITS[split]])
            uniforms = rng.random((rounds, size))
            noise = np.exp(rng.normal(0.0, self.model.g["loss_noise"], size=(rounds, len(self.skill_names))))
            cached = (block, uniforms, noise)
            self._cache[split] = cached
        return cached[1][row], cached[2][row]

    def score(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Per question of ``split`` (the env's order: skill by skill), whether the student answers
        it right, and its loss."""
        self._require_prepared()
        heldout = self._heldout[split]
        uniforms, noise = self._draws(split, len(heldout.skill))
        skill_loss, logit = self._state()
        ceiling, shift = self._question_terms[split]
        p = ceiling * sigmoid(logit[heldout.skill] - shift)
        correct = uniforms < p if self.config.evaluation_noise else p >= 0.5
        return correct, (skill_loss * noise)[heldout.skill]

    def _answer_other(self, question: str, key: str, accuracy: np.ndarray) -> tuple[int | None, bool, str | None]:
        """(skill index, answered right, gold) of a question outside the held-out sets: the
        task classifies and labels it; it is right with its skill's accuracy, drawn once a round."""
        skill = self.task.classify(question)
        index = self._index.get(skill) if skill is not None else None
        try:
            gold = self.task.label(question)
        except Exception:  # noqa: BLE001 - a question the oracle cannot label gets a wrong answer
            gold = None
        if index is None or gold is None:
            return index, False, gold
        if not self.config.evaluation_noise:
            return index, bool(accuracy[index] >= 0.5), gold
        u = np.random.default_rng([self._seed, self._round, SPLITS["other"], zlib.crc32(key.encode())]).random()
        return index, bool(u < accuracy[index]), gold

    def predict(self, questions: Sequence[str]) -> list[str]:
        self._require_prepared()
        scored = {split: self.score(split)[0] for split in self._heldout}
        accuracy = self._skill_accuracy()
        out = []
        for question in questions:
            key = _key(question)
            for split, heldout in self._heldout.items():
                i = heldout.position.get(key)
                if i is not None:
                    index, right, gold = int(heldout.skill[i]), bool(scored[split][i]), heldout.examples[i].answer
                    break
            else:
                index, right, gold = self._answer_other(question, key, accuracy)
            out.append(gold if right and gold is not None else self._wrong_answer(index, gold, question))
        return out

    def _wrong_answer(self, index: int | None, gold: str | None, question: str) -> str:
        if index is None:
            return ""
        norm = self.task.normalize_answer
        choices = [a for a in self._answers[index] if gold is None or norm(a) != norm(gold)]
        if not choices:
            return ""
        return choices[zlib.crc32(f"{question}/{self._round}".encode()) % len(choices)]

    def loss(self, examples: Sequence[Example]) -> list[float]:
        self._require_prepared()
        skill_loss = self._skill_loss()
        _, noise = self._draws("validation", len(self._heldout["validation"].skill))
        out = []
        for ex in examples:
            i = self._index.get(ex.skill)
            if i is None:
                i = self._index.get(self.task.classify(ex.question) or "")
            out.append(float(skill_loss[i] * noise[i]) if i is not None else float(self.model.g["initial_loss"]))
        return out

    # -- checkpoints ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        self._require_prepared()
        return {
            "seed": self._seed,
            "round": self._round,
            "experience": self._experience.tolist(),
            "history": self._history.tolist(),
            "shift": self._shift.tolist(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.task is None:
            raise RuntimeError("The simulated student needs prepare(task) before load_state_dict.")
        self._seed = int(state["seed"])
        self._round = int(state["round"])
        self._experience = np.array(state["experience"], dtype=np.float64)
        self._history = np.array(state["history"], dtype=np.float64)
        self._shift = np.array(state["shift"], dtype=np.float64)
        self._cache = {}
        self._state_round = -1


__all__ = [
    "SimulatedStudent", "SimulatedStudentConfig", "SimulatorParameters", "SkillModel",
    "DEFAULT_PARAMETERS", "SKILL_PARAMETERS", "GLOBAL_PARAMETERS",
]
