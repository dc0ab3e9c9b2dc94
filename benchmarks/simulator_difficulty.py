"""Measure how the real student's accuracy on a question falls with the question's difficulty,
the one parameter of the simulated student that run directories do not identify
(``difficulty_slope``; ``datagym calibrate --difficulty-slope``).

Runs the uniform teacher on datagym/Arithmetic-SkillList-v1 with the default student, records
every validation answer after every step (``env.unwrapped.last_validation``: skill, difficulty,
correct), and fits a logistic regression of correctness on the question's difficulty minus its
skill's mean, with an intercept per (seed, step, skill): the slope is in logits per unit of
difficulty, as the simulator's. Groups whose answers are all right or all wrong carry no
information about the slope and are left out.

    python benchmarks/simulator_difficulty.py --seeds 2
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np
from scipy import optimize
from scipy.special import expit, log1p

import datagym  # noqa: F401  (registers the envs)


def collect(seeds: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    groups, offsets, correct = [], [], []
    group_of: dict[tuple, int] = {}
    for seed in seeds:
        env = gym.make("datagym/Arithmetic-SkillList-v1", timings=False)
        env.reset(seed=seed)
        n = len(env.unwrapped.skill_names)
        step, done = 0, False
        while not done:
            _, _, terminated, truncated, _ = env.step(np.ones(n, dtype=np.float32))
            step += 1
            done = terminated or truncated
            records = env.unwrapped.last_validation
            by_skill: dict[str, list[float]] = {}
            for r in records:
                by_skill.setdefault(r["skill"], []).append(float(r["difficulty"]))
            means = {k: float(np.mean(v)) for k, v in by_skill.items()}
            for r in records:
                key = (seed, step, r["skill"])
                groups.append(group_of.setdefault(key, len(group_of)))
                offsets.append(float(r["difficulty"]) - means[r["skill"]])
                correct.append(float(r["correct"]))
            print(f"seed {seed} step {step}: macro accuracy {np.mean([r['correct'] for r in records]):.3f}", flush=True)
    return np.array(groups), np.array(offsets), np.array(correct)


def fit_slope(groups: np.ndarray, offsets: np.ndarray, correct: np.ndarray) -> tuple[float, float, int]:
    """The shared slope (and its standard error) of correct ~ intercept[group] - slope * offset."""
    totals = np.bincount(groups, weights=correct)
    sizes = np.bincount(groups)
    informative = (totals > 0) & (totals < sizes)
    keep = informative[groups]
    relabel = -np.ones(len(sizes), dtype=np.int64)
    relabel[informative] = np.arange(informative.sum())
    g, x, y = relabel[groups[keep]], offsets[keep], correct[keep]
    k = int(informative.sum())

    def nll(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = theta[g] - theta[k] * x
        p = expit(z)
        value = float(np.sum(log1p(np.exp(-np.abs(z))) + np.maximum(z, 0) - y * z))
        residual = p - y
        grad = np.zeros(k + 1)
        np.add.at(grad, g, residual)
        grad[k] = float(np.sum(-residual * x))
        return value, grad

    result = optimize.minimize(nll, np.zeros(k + 1), jac=True, method="L-BFGS-B")
    theta = result.x
    p = expit(theta[g] - theta[k] * x)
    w = p * (1 - p)
    # the slope's standard error from the Fisher information, the intercepts profiled out
    per_group_w = np.bincount(g, weights=w, minlength=k)
    per_group_wx = np.bincount(g, weights=w * x, minlength=k)
    info = float(np.sum(w * x * x) - np.sum(per_group_wx ** 2 / np.maximum(per_group_w, 1e-12)))
    return float(theta[k]), float(1.0 / np.sqrt(max(info, 1e-12))), k


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2, help="episodes (seeds 0..N-1)")
    args = parser.parse_args()
    groups, offsets, correct = collect(list(range(args.seeds)))
    slope, se, k = fit_slope(groups, offsets, correct)
    print(f"difficulty_slope {slope:.3f} logits per unit difficulty (s.e. {se:.3f}), "
          f"from {len(correct)} answers in {k} informative (seed, step, skill) groups")


if __name__ == "__main__":
    main()
