"""Final test accuracy of each teacher over several seeds at the same budget.

    python benchmarks/compare_teachers.py --seeds 5 --agents no_teaching uniform weakest_skill

Prints a markdown table (mean and standard error of final macro test accuracy per agent) and
Welch's t statistic of each agent against uniform.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor

import gymnasium as gym
import numpy as np

import datagym  # noqa: F401  (registers the envs)
from datagym.agents import make_agent
from datagym.runner import run_episode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--env", default=datagym.DEFAULT_ENV_ID)
    parser.add_argument("--agents", nargs="+", default=["no_teaching", "random", "uniform", "weakest_skill", "learning_progress", "exp3s"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds are first-seed .. first-seed + seeds - 1")
    parser.add_argument("--env-options", default="{}", help="JSON dict of env options")
    parser.add_argument("--agent-options", default="{}", help='JSON {agent: {option: value}}')
    parser.add_argument("--workers", type=int, default=1, help="episodes run in parallel (one torch thread each)")
    parser.add_argument("--json-out", default=None, help="also write the raw scores here")
    parser.add_argument("--baseline", default="uniform", help="agent every other is compared with (Welch t)")
    args = parser.parse_args()
    options = json.loads(args.env_options)
    agent_options = json.loads(args.agent_options)

    scores: dict[str, list[float]] = {name: [] for name in args.agents}
    started = time.perf_counter()
    jobs = [(args.env, options, name, agent_options.get(name, {}), seed) for name in args.agents for seed in range(args.first_seed, args.first_seed + args.seeds)]
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for (_, _, name, _, seed), summary in zip(jobs, pool.map(run_one, jobs)):
            scores[name].append(summary["test_macro_accuracy"])
            print(f"{name:>18} seed {seed}: test {summary['test_macro_accuracy']:.4f} "
                  f"({summary['seconds']['total']:.1f}s)", flush=True)
    print(f"\n{args.env}, options {options}, {args.seeds} seeds, {time.perf_counter() - started:.0f}s\n")
    print(f"| agent | final test macro accuracy (mean ± s.e.) | minus {args.baseline} | Welch t vs {args.baseline} | per seed |")
    print("|---|---|---|---|---|")
    base = np.asarray(scores.get(args.baseline, []))
    for name, values in scores.items():
        v = np.asarray(values)
        se = v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else float("nan")
        compare = name != args.baseline and len(base) >= 2 and len(v) >= 2
        diff = f"{v.mean() - base.mean():+.4f}" if compare else ""
        t = f"{welch_t(v, base):+.2f}" if compare else ""
        per_seed = " ".join(f"{x:.3f}" for x in v)
        print(f"| {name} | {v.mean():.4f} ± {se:.4f} | {diff} | {t} | {per_seed} |")
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump(
                {"env": args.env, "options": options, "agent_options": agent_options,
                 "first_seed": args.first_seed, "baseline": args.baseline, "scores": scores},
                fh,
                indent=2,
            )


def run_one(job: tuple) -> dict:
    env_id, options, agent_name, agent_options, seed = job
    env = gym.make(env_id, **options)
    agent = make_agent(agent_name, env, **agent_options)
    return run_episode(env, agent, seed=seed)


def welch_t(a: np.ndarray, b: np.ndarray) -> float:
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    return float((a.mean() - b.mean()) / np.sqrt(va + vb)) if va + vb > 0 else float("inf")


if __name__ == "__main__":
    main()
