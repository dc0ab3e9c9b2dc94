"""Where a step's time goes: generate / verify / train / evaluate / everything else.

    python benchmarks/step_breakdown.py --episodes 3

Runs default episodes of the default env (``gymnasium.make("datagym/Arithmetic-SkillList-v1")``,
default options, the uniform agent: 10 steps of 384 examples) and prints a markdown table of
the mean seconds per step and each part's share of the step, then the per-episode costs (env
construction, reset, final test) and the wall time of a whole episode from env construction
to the final test score. Python's import time is measured once and reported apart.

A step is timed from outside: the agent's ``act`` plus ``env.step`` through Gymnasium's
wrappers. generate / verify / train / evaluate come from the env's own ``info["time/..."]``;
evaluate is split into greedy decoding (``student.predict``) and the answer loss
(``student.loss``) by timing those two calls; "everything else" is the step's wall time minus
all of those (plan, bookkeeping, observation, info, wrappers).

Targets: a 10-step default episode in 60 s or less on 2 cores; everything but training and
evaluation at most 5% of a step.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import time

T_IMPORT = time.perf_counter()
import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import datagym  # noqa: E402
import datagym.students.transformer_student  # noqa: E402,F401  (transformers: counted as import time)
from datagym.agents.registry import make_agent  # noqa: E402

IMPORT_SECONDS = time.perf_counter() - T_IMPORT
ENV_ID = "datagym/Arithmetic-SkillList-v1"
ENV_PARTS = ("generate", "verify", "train", "evaluate")


class _Timer:
    """Wraps a bound method and adds up the seconds spent in it."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, method):
        @functools.wraps(method)
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t0

        return timed

    def take(self) -> float:
        seconds, self.seconds = self.seconds, 0.0
        return seconds


def episode(seed: int) -> dict:
    started = time.perf_counter()
    env = gym.make(ENV_ID)
    agent = make_agent("uniform", env)
    construct_seconds = time.perf_counter() - started

    # Split evaluation into decoding and loss without touching the student's code.
    student = env.unwrapped.student
    decode, loss = _Timer(), _Timer()
    student.predict = decode.wrap(student.predict)
    student.loss = loss.wrap(student.loss)
    # The final test score decodes too; leave it out of the validation's decoding time.
    test_metrics = env.unwrapped.test_metrics

    def untimed_test_metrics():
        before = decode.seconds
        try:
            return test_metrics()
        finally:
            decode.seconds = before

    env.unwrapped.test_metrics = untimed_test_metrics

    t0 = time.perf_counter()
    obs, info = env.reset(seed=seed)
    agent.reset(seed)
    reset_seconds = time.perf_counter() - t0
    decode.take(), loss.take()

    rows, done = [], False
    while not done:
        t0 = time.perf_counter()
        action = agent.act(obs, info)
        t1 = time.perf_counter()
        obs, reward, terminated, truncated, info = env.step(action)
        t2 = time.perf_counter()
        done = terminated or truncated
        row = {part: float(info[f"time/{part}"]) for part in ENV_PARTS}
        row["act"] = t1 - t0
        row["test"] = float(info.get("time/test", 0.0))  # the final test score, last step only
        row["decode"], row["loss"] = decode.take(), loss.take()
        row["grade"] = row["evaluate"] - row["decode"] - row["loss"]
        row["step"] = (t2 - t0) - row["test"]
        row["other"] = row["step"] - row["act"] - sum(row[p] for p in ENV_PARTS)
        rows.append(row)
    episode_seconds = time.perf_counter() - started
    env.close()
    return {
        "seed": seed,
        "episode_seconds": episode_seconds,
        "construct_seconds": construct_seconds,
        "reset_seconds": reset_seconds,
        "test_seconds": sum(r["test"] for r in rows),
        "steps": rows,
        "test_macro_accuracy": float(info["student/test_macro_accuracy"]),
    }


def report(episodes: list[dict], load_before: tuple[float, float, float]) -> dict:
    steps = [row for ep in episodes for row in ep["steps"]]

    def mean(key: str) -> float:
        return float(np.mean([r[key] for r in steps]))

    step_mean = mean("step")
    n_steps = len(steps) / len(episodes)
    print(
        f"{len(episodes)} default episode(s) of {ENV_ID} (uniform agent, {n_steps:g} steps each), "
        f"{os.cpu_count()} CPU cores, torch {torch.__version__}, Python {platform.python_version()}, "
        f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}\n"
    )
    print("| part of a step | mean seconds per step | share of step |")
    print("|---|---|---|")
    labels = (
        ("generate", "generate"),
        ("verify", "verify (oracle + test-contamination guard)"),
        ("train", "train"),
        ("evaluate", "evaluate (validation set)"),
        ("decode", "- of which greedy decoding"),
        ("loss", "- of which answer loss"),
        ("grade", "- of which grading and records"),
        ("act", "agent act"),
        ("other", "everything else (plan, bookkeeping, observation, info, wrappers)"),
    )
    for key, label in labels:
        m = mean(key)
        print(f"| {label} | {m:.4f} | {100 * m / step_mean:.2f}% |")
    print(f"| **step** (act + env.step) | **{step_mean:.3f}** | 100% |")

    overhead = mean("generate") + mean("verify") + mean("act") + mean("other")
    share = 100 * overhead / step_mean
    walls = [ep["episode_seconds"] for ep in episodes]
    train_eval = sum(
        r["train"] + r["evaluate"] + r["test"] for ep in episodes for r in ep["steps"]
    ) + sum(ep["reset_seconds"] for ep in episodes)  # reset is the first evaluation
    episode_overhead = 100 * (1 - train_eval / sum(walls))
    print()
    print("| per episode | mean seconds |")
    print("|---|---|")
    print(f"| env construction (`gymnasium.make`, task, held-out sets, student config) | {np.mean([e['construct_seconds'] for e in episodes]):.3f} |")
    print(f"| reset (new weights + first validation evaluation) | {np.mean([e['reset_seconds'] for e in episodes]):.3f} |")
    print(f"| final test evaluation (last step) | {np.mean([e['test_seconds'] for e in episodes]):.3f} |")
    print(f"| **whole episode**, construction to test score | **{np.mean(walls):.2f}** (max {np.max(walls):.2f}) |")
    print(f"| Python imports (once per process, not in the episode) | {IMPORT_SECONDS:.2f} |")
    print()
    target_step = "met" if share <= 5 else "NOT met"
    target_wall = "met" if np.max(walls) <= 60 else "NOT met"
    print(f"- everything but train and evaluate: {overhead:.4f} s per step = {share:.2f}% of a step "
          f"(target <= 5%: {target_step}); over a whole episode, including construction and "
          f"reset, {episode_overhead:.2f}%")
    print(f"- whole 10-step episode: mean {np.mean(walls):.1f} s, max {np.max(walls):.1f} s "
          f"(target <= 60 s: {target_wall})")
    accuracies = ", ".join(f"{e['test_macro_accuracy']:.3f}" for e in episodes)
    print(f"- final test macro accuracy per episode: {accuracies}")
    return {
        "step_mean_seconds": step_mean,
        "part_mean_seconds": {key: mean(key) for key, _ in labels},
        "overhead_share_percent": share,
        "episode_overhead_share_percent": episode_overhead,
        "episode_seconds": walls,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=3, help="episodes to run (seeds seed, seed+1, ...)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first episode")
    parser.add_argument("--json-out", default=None, help="write every timing to this JSON file")
    args = parser.parse_args()
    if args.episodes < 1:
        parser.error(f"Expected --episodes >= 1, got {args.episodes}.")
    load_before = os.getloadavg()
    episodes = [episode(args.seed + i) for i in range(args.episodes)]
    summary = report(episodes, load_before)
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump(
                {
                    "args": vars(args),
                    "cpu_count": os.cpu_count(),
                    "torch": torch.__version__,
                    "load_average_before": load_before,
                    "import_seconds": IMPORT_SECONDS,
                    "summary": summary,
                    "episodes": episodes,
                },
                fh,
                indent=2,
            )


if __name__ == "__main__":
    main()
