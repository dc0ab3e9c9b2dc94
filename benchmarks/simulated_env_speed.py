"""How fast the envs step with the simulated student: whole ``env.step`` calls through the
wrappers ``gym.make`` adds (order enforcing, the passive env checker, the time limit), one
process, one core. Resets at episode ends are included (they evaluate the student too).

Prints steps per second of wall-clock and of CPU time (the process's own, which another
process on the machine does not inflate) for the Skill-List env (the 10k/s target), with
timings on and off, with difficulty control, and the Skill-Tree env (whose band requests take
the slow path: it generates and verifies the examples' text), and one real step for the ratio.

    python benchmarks/simulated_env_speed.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

import datagym  # noqa: F401

SL, ST = "datagym/Arithmetic-SkillList-v1", "datagym/Arithmetic-SkillTree-v1"


def rate(env: gym.Env, actions: list, seconds: float) -> tuple[float, float]:
    env.reset(seed=0)
    for action in actions[:50]:  # warm up (verdict rates, draw blocks)
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    steps, wall0, cpu0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - wall0 < seconds:
        _, _, terminated, truncated, _ = env.step(actions[steps % len(actions)])
        steps += 1
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - wall0), steps / (time.process_time() - cpu0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
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
        wall, cpu = rate(env, actions, args.seconds)
        results[label] = wall
        print(f"{label:34s} {wall:9.0f} steps/s wall  {cpu:9.0f} steps/s CPU")
    real = gym.make(SL)
    real.reset(seed=0)
    started = time.perf_counter()
    real.step(weights[0])
    seconds = time.perf_counter() - started
    print(f"{'Skill-List, real student (1 step)':34s} {1 / seconds:9.2f} steps/s wall  "
          f"(simulated is {results['Skill-List, timings off'] * seconds:,.0f}x faster)")


if __name__ == "__main__":
    main()
