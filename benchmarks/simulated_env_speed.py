"""How fast the envs step with the simulated student: whole ``env.step`` calls through the
wrappers ``gym.make`` adds (order enforcing, the passive env checker, the time limit), one
process, one core. Resets at episode ends are included (they evaluate the student too).

Prints steps per second of the process's own CPU time (which another process on the machine
does not inflate), the best and the median of several windows, for the Skill-List env (the 10k/s target), with
timings on and off, with difficulty control, and the Skill-Tree env (whose band requests take
the slow path: it generates and verifies the examples' text), and one real step for the ratio.

    python benchmarks/simulated_env_speed.py [--seconds 1] [--repeats 7]
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

import datagym  # noqa: F401

SL, ST = "datagym/Arithmetic-SkillList-v1", "datagym/Arithmetic-SkillTree-v1"


def rate(env: gym.Env, actions: list, seconds: float, repeats: int) -> tuple[float, float]:
    """Steps per second of CPU time over ``repeats`` windows of ``seconds``: the best (as timeit
    reports: the machine's noise only ever slows a window down) and the median."""
    env.reset(seed=0)
    for action in actions[:50]:  # warm up (verdict rates, draw blocks)
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    rates, steps = [], 0
    for _ in range(repeats):
        done, wall0, cpu0 = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - wall0 < seconds:
            _, _, terminated, truncated, _ = env.step(actions[steps % len(actions)])
            steps += 1
            done += 1
            if terminated or truncated:
                env.reset()
        rates.append(done / (time.process_time() - cpu0))
    return max(rates), float(np.median(rates))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one timing window")
    parser.add_argument("--repeats", type=int, default=7, help="timing windows per case")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    weights = [rng.random(15).astype(np.float32) for _ in range(64)]
    cases = [
        ("Skill-List, timings off", gym.make(SL, student="simulated", timings=False), weights),
        ("Skill-List, timings on", gym.make(SL, student="simulated"), weights),
        ("Skill-List, difficulty control", gym.make(SL, student="simulated", timings=False, difficulty_control=True),
         [{"weights": w, "difficulty": rng.random(15).astype(np.float32)} for w in weights]),
    ]
    tree = gym.make(ST, student="simulated", timings=False)
    tree.action_space.seed(0)
    cases.append(("Skill-Tree (slow path: text)", tree, [tree.action_space.sample() for _ in range(64)]))
    results = {}
    for label, env, actions in cases:
        best, median = rate(env, actions, args.seconds, args.repeats)
        results[label] = best
        print(f"{label:34s} {best:9.0f} steps/s (best of {args.repeats})  {median:9.0f} (median)")
    real = gym.make(SL)
    real.reset(seed=0)
    started = time.perf_counter()
    real.step(weights[0])
    seconds = time.perf_counter() - started
    print(f"{'Skill-List, real student (1 step)':34s} {1 / seconds:9.2f} steps/s  "
          f"(simulated is {results['Skill-List, timings off'] * seconds:,.0f}x faster)")


if __name__ == "__main__":
    main()
