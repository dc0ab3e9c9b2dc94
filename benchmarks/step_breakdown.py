"""Where a step's time goes: generate / verify / train / evaluate / everything else.

    python benchmarks/step_breakdown.py --episodes 3

Runs default 10-step episodes of the default env (the uniform agent, default options) and
prints a markdown table of mean seconds per step and share of the step, plus the wall time of
a whole episode from env construction to the final test score. Targets: a 10-step default
episode in 60 s or less on 2 cores; everything but training and evaluation at most 5% of a step.
"""

from __future__ import annotations

import argparse
import json
import os
import time

T_IMPORT = time.perf_counter()
import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import datagym  # noqa: E402
from datagym.agents import make_agent  # noqa: E402

IMPORT_SECONDS = time.perf_counter() - T_IMPORT
PARTS = ("generate", "verify", "train", "evaluate")


def episode(seed: int) -> dict:
    started = time.perf_counter()
    env = gym.make(datagym.DEFAULT_ENV_ID)
    agent = make_agent("uniform", env)
    t0 = time.perf_counter()
    obs, info = env.reset(seed=seed)
    agent.reset(seed)
    reset_seconds = time.perf_counter() - t0
    rows, done = [], False
    while not done:
        t0 = time.perf_counter()
        action = agent.act(obs, info)
        act_seconds = time.perf_counter() - t0
        obs, reward, terminated, truncated, info = env.step(action)
        done = terminated or truncated
        row = {part: info[f"time/{part}"] for part in PARTS}
        row["act"] = act_seconds
        row["test"] = info.get("time/test", 0.0)
        row["step"] = info["time/step"] + act_seconds
        row["other"] = row["step"] - sum(row[p] for p in PARTS) - row["test"]
        rows.append(row)
    return {
        "episode_seconds": time.perf_counter() - started,
        "reset_seconds": reset_seconds,
        "steps": rows,
        "test_macro_accuracy": info["student/test_macro_accuracy"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json-out", default=None)
    args = parser.parse_args()
    episodes = [episode(args.seed + i) for i in range(args.episodes)]
    steps = [row for ep in episodes for row in ep["steps"]]
    step_mean = float(np.mean([r["step"] for r in steps]))

    print(f"{args.episodes} default episodes of {datagym.DEFAULT_ENV_ID} (uniform agent), "
          f"{os.cpu_count()} CPU cores, torch {torch.__version__}, load {os.getloadavg()[0]:.2f}\n")
    print("| part of a step | mean seconds | share of step |")
    print("|---|---|---|")
    for part in (*PARTS, "act", "other"):
        mean = float(np.mean([r[part] for r in steps]))
        print(f"| {part} | {mean:.3f} | {100 * mean / step_mean:.1f}% |")
    print(f"| **step** | {step_mean:.3f} | 100% |")
    overhead = float(np.mean([r["generate"] + r["verify"] + r["act"] + r["other"] for r in steps]))
    print(f"\neverything but train and evaluate: {overhead:.3f} s = {100 * overhead / step_mean:.2f}% of a step (target <= 5%)")
    walls = [ep["episode_seconds"] for ep in episodes]
    print(f"final test (once per episode): {np.mean([r['test'] for r in steps]) * len(steps) / args.episodes:.2f} s per episode")
    print(f"reset (first evaluation): {np.mean([ep['reset_seconds'] for ep in episodes]):.2f} s")
    print(f"whole 10-step episode, env construction to test score: mean {np.mean(walls):.1f} s, "
          f"max {np.max(walls):.1f} s (target <= 60 s); python imports once: {IMPORT_SECONDS:.1f} s")
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump({"import_seconds": IMPORT_SECONDS, "episodes": episodes}, fh, indent=2)


if __name__ == "__main__":
    main()
