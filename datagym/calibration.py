"""Fit the simulated student's parameters to run directories of a real student.

``datagym calibrate RUN_DIR... --out FILE`` reads every finished run under the given
directories (from ``steps.jsonl``: each step's requested examples per skill, scaled by the
share accepted, and the validation accuracy and loss per skill after it), checks that they all taught one student on
one task, and fits the model of ``datagym.students.simulated_student`` by least squares on
both curves. The runs of every fourth seed are held out: the report gives the
error of the per-skill accuracy curves on them, for the fitted model and for the same model
fitted without transfer between skills (the baseline).

The fit is deterministic. Parameters the runs cannot identify keep the values given
(``difficulty_slope``: the runs' training difficulties are drawn at random and their
per-question results are not recorded; ``benchmarks/simulator_difficulty.py`` measures it).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from scipy import optimize

from datagym.errors import ConfigError
from datagym.students.simulated_student import (
    GLOBAL_PARAMETERS,
    SKILL_PARAMETERS,
    SimulatorParameters,
    SkillModel,
    sigmoid,
)

logger = logging.getLogger(__name__)

#: held out for the report: the runs of every HELDOUT_EVERY-th distinct seed
HELDOUT_EVERY = 4
#: the loss residuals' weight against the accuracy residuals' (log loss moves about twice as much)
LOSS_WEIGHT = 0.5
#: quantiles of each skill's held-out difficulties that stand for its questions in the fit
QUADRATURE = 8
#: the difficulty response used when none is given: measured on the real v1 student by
#: benchmarks/simulator_difficulty.py (0.38 ± 0.09 logits per unit, 2 uniform episodes)
DEFAULT_DIFFICULTY_SLOPE = 0.38


@dataclass
class CalibrationRun:
    """One real episode: what was trained on at each step, and what was measured after it."""

    path: str
    seed: int
    agent: str
    env_id: str
    counts: np.ndarray  # (steps, skills): accepted examples per skill
    accuracy: np.ndarray  # (steps, skills): validation accuracy after each step
    loss: np.ndarray  # (steps, skills): validation loss after each step


@dataclass
class CalibrationData:
    skill_names: tuple[str, ...]
    families: tuple[str, ...]
    runs: list[CalibrationRun]
    #: the validation questions' difficulty minus their skill's mean, and their skill
    offsets: np.ndarray
    skill_of: np.ndarray
    student: dict[str, Any] = field(default_factory=dict)
    task: str = ""


def find_runs(paths: Sequence[str | Path]) -> list[Path]:
    """Every finished run directory (``summary.json`` beside ``steps.jsonl``) under ``paths``."""
    found: list[Path] = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"Expected a run directory or a folder of runs, got {str(path)!r}, which does not exist.")
        candidates = [path] if (path / "steps.jsonl").exists() else sorted(p.parent for p in path.rglob("steps.jsonl"))
        found.extend(p for p in candidates if (p / "summary.json").exists() and (p / "config.json").exists())
    unique = sorted(set(found))
    if not unique:
        raise ConfigError(
            f"Expected finished run directories (config.json, steps.jsonl, summary.json) under "
            f"{[str(p) for p in paths]}; found none."
        )
    return unique


def load_runs(paths: Sequence[str | Path]) -> CalibrationData:
    """The runs under ``paths``, checked to share one task, one student and its settings."""
    from datagym.registration import make_task

    runs: list[CalibrationRun] = []
    student: dict[str, Any] | None = None
    task_name, task_options, skills = None, None, None
    for run_dir in find_runs(paths):
        config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
        env_config = config.get("env_config", {})
        this_student = {"student": env_config.get("student"), "config": config.get("student_config")}
        this_task = (env_config.get("task"), env_config.get("task_options", {}))
        if student is None:
            student, (task_name, task_options), skills = this_student, this_task, tuple(config["skills"])
        elif this_student != student or this_task != (task_name, task_options) or tuple(config["skills"]) != skills:
            raise ConfigError(
                f"Expected runs of one student and task to calibrate on; {str(run_dir)!r} has student "
                f"{this_student['student']!r} on task {this_task[0]!r} and differs from the first run's "
                f"({student['student']!r} on {task_name!r}) in its settings. Pass one student's runs."
            )
        runs.append(_load_run(run_dir, config, skills))
    task = make_task(task_name, **(task_options or {}))
    index = {name: i for i, name in enumerate(skills)}
    validation = [ex for name in skills for ex in task.heldout("validation")[name]]
    skill_of = np.array([index[ex.skill] for ex in validation])
    difficulty = np.array([float(ex.provenance.get("difficulty", 0.5)) for ex in validation])
    means = np.bincount(skill_of, weights=difficulty) / np.bincount(skill_of)
    families = []
    for name in skills:
        parent = next((node for node in task.skill_tree.walk() if name in task.skill_tree.children_of(node)), name)
        families.append(parent)
    return CalibrationData(skills, tuple(families), runs, difficulty - means[skill_of], skill_of,
                           student or {}, str(task_name))


def _load_run(run_dir: Path, config: dict, skills: tuple[str, ...]) -> CalibrationRun:
    index = {name: i for i, name in enumerate(skills)}
    steps = [json.loads(line) for line in (run_dir / "steps.jsonl").read_text(encoding="utf-8").splitlines() if line]
    counts = np.zeros((len(steps), len(skills)))
    accuracy = np.zeros((len(steps), len(skills)))
    loss = np.zeros((len(steps), len(skills)))
    for t, step in enumerate(steps):
        # each skill's requested examples times the step's accepted share: the rejections (test
        # contamination, about 3%) are spread evenly, so steps.jsonl alone is enough to refit
        requested = step.get("teacher/requested", {})
        total = sum(requested.values())
        share = step.get("teacher/accepted", total) / total if total else 0.0
        for name, n in requested.items():
            if name in index:
                counts[t, index[name]] = n * share
        accuracy[t] = [step["student/accuracy"][name] for name in skills]
        loss[t] = [step["student/loss"][name] for name in skills]
    return CalibrationRun(str(run_dir), int(config["seed"]), str(config["agent"]), str(config["env_id"]),
                          counts, accuracy, loss)


# -- the model over many runs at once ---------------------------------------------------------
class _Vectorised:
    """Parameters <-> an unconstrained vector, and the model's curves for many runs at once."""

    def __init__(self, data: CalibrationData, transfer: bool, difficulty_slope: float) -> None:
        self.data = data
        self.transfer = transfer
        self.difficulty_slope = difficulty_slope
        self.n = len(data.skill_names)
        self.free_globals = ["initial_loss", "forgetting"] + (["transfer_family", "transfer_all"] if transfer else [])
        self.counts = np.stack([r.counts for r in data.runs])  # (runs, steps, skills)
        self.accuracy = np.stack([r.accuracy for r in data.runs])
        self.loss = np.stack([r.loss for r in data.runs])
        levels = (np.arange(QUADRATURE) + 0.5) / QUADRATURE
        self.nodes = np.stack([np.quantile(data.offsets[data.skill_of == i], levels) for i in range(self.n)])

    def size(self) -> int:
        return len(self.free_globals) + len(SKILL_PARAMETERS) * self.n

    def initial(self, runs: np.ndarray) -> np.ndarray:
        """A starting point read off the data: each skill's ceiling a little above its best mean
        accuracy, its midpoint where its mean curve crosses half of that (in log experience)."""
        g = {"initial_loss": np.log(2.5), "forgetting": np.log(0.1), "transfer_family": -1.5, "transfer_all": -3.0}
        counts = self.counts[runs].mean(axis=0)  # (steps, skills)
        own = np.cumsum(counts, axis=0)
        x = np.log1p(own + 0.05 * (own.sum(axis=1, keepdims=True) - own))
        acc = self.accuracy[runs].mean(axis=0)
        ceiling = np.clip(acc.max(axis=0) * 1.15, 0.05, 0.95)
        midpoint = np.zeros(self.n)
        for i in range(self.n):
            above = np.flatnonzero(acc[:, i] >= ceiling[i] / 2)
            midpoint[i] = x[above[0], i] - (1.0 if above[0] == 0 else 0.0) if len(above) else x[-1, i] + 1.0
        per = {"accuracy_ceiling": np.log(ceiling / (1 - ceiling)), "accuracy_slope": np.full(self.n, np.log(2.0)),
               "accuracy_midpoint": midpoint, "loss_floor": np.full(self.n, -1.0),
               "loss_scale": np.full(self.n, np.log(500.0)), "loss_shape": np.zeros(self.n)}
        return np.concatenate([[g[k] for k in self.free_globals], *[per[k] for k in SKILL_PARAMETERS]])

    def parameters(self, theta: np.ndarray, fixed: dict[str, float] | None = None) -> SimulatorParameters:
        values = dict(zip(self.free_globals, theta[: len(self.free_globals)]))
        g = {
            "initial_loss": float(np.exp(values["initial_loss"])),
            "forgetting": float(np.exp(values["forgetting"])),
            "transfer_family": float(sigmoid(values["transfer_family"])) if self.transfer else 0.0,
            "transfer_all": float(sigmoid(values["transfer_all"])) if self.transfer else 0.0,
            "seed_sd": 0.0,
            "difficulty_slope": self.difficulty_slope,
            "loss_noise": 0.0,
            **(fixed or {}),
        }
        rest = theta[len(self.free_globals):].reshape(len(SKILL_PARAMETERS), self.n)
        raw = dict(zip(SKILL_PARAMETERS, rest))
        skills = {}
        for i, name in enumerate(self.data.skill_names):
            skills[name] = {
                "accuracy_ceiling": float(sigmoid(raw["accuracy_ceiling"][i])),
                "accuracy_slope": float(np.exp(raw["accuracy_slope"][i])),
                "accuracy_midpoint": float(raw["accuracy_midpoint"][i]),
                "loss_floor": float(g["initial_loss"] * sigmoid(raw["loss_floor"][i])),
                "loss_scale": float(np.exp(raw["loss_scale"][i])),
                "loss_shape": float(0.2 + 3.8 * sigmoid(raw["loss_shape"][i])),
            }
        return SimulatorParameters(globals=g, skills=skills)

    def curves(self, params: SimulatorParameters, runs: slice | np.ndarray = slice(None),
               shift: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Expected validation accuracy and loss per (run, step, skill); ``shift`` moves each
        (run, skill)'s accuracy midpoint."""
        model = SkillModel(params, self.data.skill_names, self.data.families)
        counts = self.counts[runs]
        n_runs, n_steps, _ = counts.shape
        shift = np.zeros((n_runs, self.n)) if shift is None else shift
        experience = np.zeros((n_runs, self.n))
        acc = np.zeros(counts.shape)
        loss = np.zeros(counts.shape)
        # each skill's held-out difficulties as QUADRATURE quantiles: the mean accuracy over its
        # questions is the mean over these (to well under a point of accuracy), at a fraction of the cost
        spread = self.difficulty_slope * self.nodes  # (skills, QUADRATURE)
        ceiling = model.per_skill["accuracy_ceiling"]
        for t in range(n_steps):
            c = counts[:, t]
            others = c.sum(axis=1, keepdims=True) - c
            experience = experience * np.exp(-model.g["forgetting"] * others / 1000.0) + c
            x = model.effective(experience)
            loss[:, t] = model.loss(x)
            acc[:, t] = ceiling * sigmoid(model.logit(x, shift)[:, :, None] - spread).mean(axis=2)
        return acc, loss

    def residuals(self, theta: np.ndarray, runs: np.ndarray) -> np.ndarray:
        acc, loss = self.curves(self.parameters(theta), runs)
        r_acc = acc - self.accuracy[runs]
        r_loss = LOSS_WEIGHT * (np.log(loss) - np.log(np.maximum(self.loss[runs], 1e-4)))
        return np.concatenate([r_acc.ravel(), r_loss.ravel()])


def _split(data: CalibrationData) -> tuple[np.ndarray, np.ndarray]:
    """Fitted and held-out runs: every fourth of the distinct seeds (the 4th, 8th, ...) is held
    out, so every group of runs made on consecutive seeds (one agent's, say) has some in both."""
    seeds = sorted({r.seed for r in data.runs})
    heldout_seeds = set(seeds[HELDOUT_EVERY - 1::HELDOUT_EVERY]) if len(seeds) >= HELDOUT_EVERY else set()
    held = np.array([r.seed in heldout_seeds for r in data.runs])
    return np.flatnonzero(~held), np.flatnonzero(held)


def _fit(model: _Vectorised, train: np.ndarray) -> np.ndarray:
    result = optimize.least_squares(model.residuals, model.initial(train), args=(train,), method="trf", x_scale="jac",
                                    ftol=1e-6, xtol=1e-6,
                                    max_nfev=400 * model.size() // 10)
    return result.x


def _seed_spread(model: _Vectorised, params: SimulatorParameters, runs: np.ndarray) -> tuple[float, float]:
    """The spread of each skill's learning over runs (sd of the best accuracy-midpoint shift per
    run and skill, on a grid) and the loss's evaluation noise: the sd of the log-loss residuals'
    step-to-step changes over the square root of 2 (a misfit of the curve's shape is smooth over
    steps and cancels there; independent noise in each evaluation does not)."""
    grid = np.linspace(-1.5, 1.5, 31)
    errors = np.zeros((len(grid), len(runs), model.n))
    for k, g in enumerate(grid):
        acc, _ = model.curves(params, runs, shift=np.full((len(runs), model.n), g))
        errors[k] = ((acc - model.accuracy[runs]) ** 2).sum(axis=1)
    best = grid[errors.argmin(axis=0)]
    # skills that never move on a run say nothing of their midpoint there
    moved = model.accuracy[runs].max(axis=1) - model.accuracy[runs].min(axis=1) > 0.1
    _, loss = model.curves(params, runs)
    residual = np.log(loss) - np.log(np.maximum(model.loss[runs], 1e-4))
    sd = float(best[moved].std()) if moved.sum() > 1 else 0.0
    return sd, float(np.diff(residual, axis=1).std() / np.sqrt(2.0))


def accuracy_rmse(model: _Vectorised, params: SimulatorParameters, runs: np.ndarray) -> dict[str, Any]:
    """Root-mean-square error of the expected per-skill accuracy curves on ``runs``."""
    acc, _ = model.curves(params, runs)
    error = acc - model.accuracy[runs]
    return {
        "rmse": float(np.sqrt((error ** 2).mean())),
        "per_skill": {name: float(np.sqrt((error[:, :, i] ** 2).mean())) for i, name in enumerate(model.data.skill_names)},
        "final_step_rmse": float(np.sqrt((error[:, -1] ** 2).mean())),
        "macro_final_error": float((acc[:, -1].mean(axis=1) - model.accuracy[runs][:, -1].mean(axis=1)).mean()),
    }


def calibrate(paths: Sequence[str | Path], difficulty_slope: float = DEFAULT_DIFFICULTY_SLOPE) -> SimulatorParameters:
    """Fit the simulator to the runs under ``paths``; the returned parameters carry the report in
    ``meta["fit"]``."""
    data = load_runs(paths)
    train, heldout = _split(data)
    if len(train) == 0:
        raise ConfigError("Expected at least one run to fit on; all were held out.")
    full = _Vectorised(data, transfer=True, difficulty_slope=difficulty_slope)
    theta = _fit(full, train)
    params = full.parameters(theta)
    seed_sd, loss_noise = _seed_spread(full, params, train)
    params = full.parameters(theta, fixed={"seed_sd": seed_sd, "loss_noise": loss_noise})
    baseline = _Vectorised(data, transfer=False, difficulty_slope=difficulty_slope)
    baseline_params = baseline.parameters(_fit(baseline, train))
    report_on = heldout if len(heldout) else train
    params.meta = {
        "student": data.student,
        "task": data.task,
        "runs": len(data.runs),
        "fitted_on": sorted({data.runs[i].seed for i in train}),
        "heldout_seeds": sorted({data.runs[i].seed for i in heldout}),
        "agents": sorted({r.agent for r in data.runs}),
        "envs": sorted({r.env_id for r in data.runs}),
        "fit": {
            "evaluated_on": "held-out runs" if len(heldout) else "the fitted runs (too few seeds to hold any out)",
            "model": accuracy_rmse(full, params, report_on),
            "no_transfer_baseline": accuracy_rmse(baseline, baseline_params, report_on),
            "fitted_runs": accuracy_rmse(full, params, train),
        },
        "not_identified": {"difficulty_slope": "given, not fitted: the runs' difficulties are random and their "
                                                "per-question results are not recorded"},
    }
    return params


def write(params: SimulatorParameters, out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(json.dumps(params.to_json(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(out)
    return out


def report_lines(params: SimulatorParameters) -> list[str]:
    fit = params.meta.get("fit", {})
    model, baseline = fit.get("model", {}), fit.get("no_transfer_baseline", {})
    g = params.globals
    return [
        f"calibrated on {params.meta.get('runs')} runs ({', '.join(params.meta.get('agents', []))}); "
        f"held-out seeds {params.meta.get('heldout_seeds')}",
        f"per-skill accuracy curve RMSE on {fit.get('evaluated_on')}: model {model.get('rmse', float('nan')):.4f}, "
        f"no-transfer baseline {baseline.get('rmse', float('nan')):.4f}",
        f"final-step RMSE: model {model.get('final_step_rmse', float('nan')):.4f}, "
        f"baseline {baseline.get('final_step_rmse', float('nan')):.4f}",
        "globals: " + ", ".join(f"{k} {g[k]:.4g}" for k in GLOBAL_PARAMETERS),
    ]
