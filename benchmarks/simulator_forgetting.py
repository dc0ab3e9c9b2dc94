"""Does the simulated student need a forgetting rate per skill? The calibration fit with one
rate for every skill against the same fit with one rate per skill, on the committed
calibration runs, scored on the held-out runs (every fourth seed) as ``datagym calibrate``
scores its fit. ``--loss-weight 0.001`` fits the accuracy curves alone.

The per-skill fit starts from the one-rate fit (each skill at its rate), so that it can only
move to a lower least-squares cost. Prints the accuracy-curve RMSE (held-out and fitted runs),
the least-squares cost (accuracy and loss residuals together) and each skill's fitted rate.

    python benchmarks/simulator_forgetting.py [RUN_DIR ...] [--loss-weight W]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import optimize

from datagym import calibration
from datagym.students.simulated_student import SimulatorParameters, SkillModel, sigmoid

RUNS = ["benchmarks/leaderboard/sweep/extension", "benchmarks/simulator/calibration_runs"]


class PerSkillForgetting(calibration._Vectorised):
    """The calibration model with ``n`` more free values: each skill's log forgetting rate
    (the global one is then unused)."""

    def size(self) -> int:
        return super().size() + self.n

    def parameters(self, theta: np.ndarray, fixed: dict | None = None) -> SimulatorParameters:
        params = super().parameters(theta[: -self.n], fixed)
        params.meta["forgetting_per_skill"] = np.exp(np.minimum(theta[-self.n:], 30.0))  # 30: all forgotten
        return params

    def curves(self, params, runs=slice(None), shift=None):
        rate = params.meta["forgetting_per_skill"]
        model = SkillModel(params, self.data.skill_names, self.data.families)
        counts = self.counts[runs]
        n_runs, n_steps, _ = counts.shape
        shift = np.zeros((n_runs, self.n)) if shift is None else shift
        experience = np.zeros((n_runs, self.n))
        acc, loss = np.zeros(counts.shape), np.zeros(counts.shape)
        spread = self.difficulty_slope * self.nodes
        ceiling = model.per_skill["accuracy_ceiling"]
        for t in range(n_steps):
            c = counts[:, t]
            experience = experience * np.exp(-rate * (c.sum(axis=1, keepdims=True) - c) / 1000.0) + c
            x = model.effective(experience)
            loss[:, t] = model.loss(x)
            acc[:, t] = ceiling * sigmoid(model.logit(x, shift)[:, :, None] - spread).mean(axis=2)
        return acc, loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", default=RUNS, help="run directories (default: the committed calibration runs)")
    parser.add_argument("--loss-weight", type=float, default=calibration.LOSS_WEIGHT,
                        help="the loss residuals' weight against the accuracy ones (near 0: fit the accuracy curves alone)")
    args = parser.parse_args()
    calibration.LOSS_WEIGHT = args.loss_weight
    data = calibration.load_runs(args.runs)
    train, held = calibration._split(data)
    print(f"{len(data.runs)} runs: {len(train)} fitted, {len(held)} held out; loss weight {args.loss_weight:g}")
    slope = calibration.DEFAULT_DIFFICULTY_SLOPE

    one = calibration._Vectorised(data, transfer=True, difficulty_slope=slope)
    started = time.perf_counter()
    theta = calibration._fit(one, train)
    one_params = one.parameters(theta)
    one_cost = 0.5 * float(np.sum(one.residuals(theta, train) ** 2))
    one_seconds = time.perf_counter() - started

    per = PerSkillForgetting(data, transfer=True, difficulty_slope=slope)
    started = time.perf_counter()
    start = np.concatenate([theta, np.full(per.n, theta[one.free_globals.index("forgetting")])])
    result = optimize.least_squares(per.residuals, start, args=(train,), method="trf", x_scale="jac",
                                    ftol=1e-8, xtol=1e-8, max_nfev=2000)
    per_params = per.parameters(result.x)
    per_seconds = time.perf_counter() - started

    print(f"{'model':28s} {'held-out RMSE':>13s} {'final step':>10s} {'fitted RMSE':>11s} {'cost':>8s} {'s':>4s}")
    for label, model, params, cost, seconds in (
        ("one forgetting rate", one, one_params, one_cost, one_seconds),
        ("a rate per skill", per, per_params, float(result.cost), per_seconds),
    ):
        held_fit = calibration.accuracy_rmse(model, params, held)
        train_fit = calibration.accuracy_rmse(model, params, train)
        print(f"{label:28s} {held_fit['rmse']:13.4f} {held_fit['final_step_rmse']:10.4f} "
              f"{train_fit['rmse']:11.4f} {cost:8.1f} {seconds:4.0f}")
    print(f"one rate: {one_params.globals['forgetting'] * 1000:.1f} per mille per 1,000 examples of other skills")
    print("per skill (per mille per 1,000 examples of other skills):")
    for name, rate in zip(data.skill_names, per_params.meta["forgetting_per_skill"]):
        print(f"  {name:24s} {rate * 1000:7.1f}")


if __name__ == "__main__":
    main()
