"""Which default student learns best within the episode's time: whole default episodes of
one env and teacher, for several student option sets, in one process and one run.

    python benchmarks/student_choice.py --seeds 0-1 \
        --options '{}' '{"batching": "mixed", "fused_adamw": true, "torch_threads": 0}'

Each option set is laid over the env's registered student (so ``{}`` is the env as registered);
keys that are env options (``total_budget``, ``step_budget``, ...) go to the env instead.
Prints a markdown table: final macro test accuracy per seed and mean, seconds per episode
(construction to test score) and per training step, and per-skill test accuracy of the best set.
Run it on an otherwise idle machine: the seconds are what the time target is about.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import gymnasium as gym
import numpy as np

import datagym  # noqa: F401
from datagym.agents import make_agent
from datagym.env_config import EnvConfig
from datagym.runner import run_episode
from datagym.sweep import parse_seeds


def episode(env_id: str, agent: str, options: dict, seed: int) -> tuple[dict, float]:
    start = time.perf_counter()
    env_keys = set(EnvConfig.field_names())
    kwargs = {k: v for k, v in options.items() if k in env_keys}
    student = {k: v for k, v in options.items() if k not in env_keys}
    env = gym.make(env_id, **kwargs, **({"student_options": student} if student else {}))
    summary = run_episode(env, make_agent(agent, env), seed=seed)
    return summary, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default=datagym.DEFAULT_ENV_ID)
    parser.add_argument("--agent", default="uniform")
    parser.add_argument("--seeds", default="0-1")
    parser.add_argument("--options", nargs="+", default=["{}"], help="student option sets, JSON objects")
    args = parser.parse_args()
    seeds = parse_seeds(args.seeds)
    sets = [json.loads(text) for text in args.options]
    print(f"{args.env}, agent {args.agent}, seeds {seeds}, load average {os.getloadavg()[0]:.2f}\n")
    print("| student options | test macro accuracy per seed | mean | s per episode (max) | train s per step |")
    print("|---|---|---|---|---|")
    best = None
    for options in sets:
        tests, seconds, train = [], [], []
        per_skill = []
        for seed in seeds:
            summary, elapsed = episode(args.env, args.agent, options, seed)
            tests.append(summary["test_macro_accuracy"])
            seconds.append(elapsed)
            train.append(summary["seconds"]["train"] / max(summary["steps"], 1))
            per_skill.append(summary["test_accuracy"])
        mean = float(np.mean(tests))
        print(f"| `{json.dumps(options, sort_keys=True)}` | {' / '.join(f'{t:.3f}' for t in tests)} | {mean:.3f} | "
              f"{np.mean(seconds):.1f} ({max(seconds):.1f}) | {np.mean(train):.2f} |", flush=True)
        if best is None or mean > best[0]:
            best = (mean, options, per_skill)
    mean, options, per_skill = best
    print(f"\nper-skill test accuracy of the best set `{json.dumps(options, sort_keys=True)}` (mean over seeds):\n")
    skills = list(per_skill[0])
    print("| " + " | ".join(skills) + " |")
    print("|" + "---|" * len(skills))
    print("| " + " | ".join(f"{np.mean([p[s] for p in per_skill]):.2f}" for s in skills) + " |")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
