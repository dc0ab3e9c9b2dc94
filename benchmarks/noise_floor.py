"""The reward's noise floor, and how many seeds the leaderboard needs to separate its agents.

    python benchmarks/noise_floor.py --evaluation --steps 3        # evaluation noise
    python benchmarks/noise_floor.py --sweep benchmarks/leaderboard/sweep   # seed spread

``--evaluation``: runs ``--steps`` steps of the default env with ``uniform`` (seed 0), then
grades the same trained student on the validation set several ways and counts the questions
whose correctness flips against the first grading, and what that does to one step's reward
(the change in macro validation accuracy):
  - the same evaluation again (the env's own: same batch size, same threads);
  - after a ``state_dict`` / ``load_state_dict`` round trip into a fresh student (what a
    resumed run evaluates);
  - with another ``eval_batch_size`` (rows decode in other batches);
  - with another number of torch threads (1 against the machine's cores: a Ray worker with
    one CPU against a local run).
Then it trains two copies of the same student on the same next step's data, with 1 and with
2 threads, and compares the reward they get: whether a trajectory depends on the thread count.

``--sweep DIR``: from a finished sweep, per board and agent, the spread of the final macro test
accuracy over seeds (standard deviation), and from it the seeds that a two-sided Welch test at
alpha 0.05 with power 0.8 needs to tell apart two agents whose means differ by the gap
measured between them: n = 2 (z_0.975 + z_0.8)^2 s^2 / gap^2 per agent, with s the pooled
standard deviation. Printed for each agent against its level's random floor and against the
agent ranked next below it.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

import datagym
from datagym.agents import make_agent
from datagym.leaderboard import RANDOM_AGENTS, board, load_results

Z = 1.959964 + 0.841621  # z_{0.975} + z_{0.8}


def _grade(env, student) -> np.ndarray:
    """Per-question correctness on the validation set (skill order, then question order)."""
    unwrapped = env.unwrapped
    items = [ex for name in unwrapped.skill_names for ex in unwrapped._validation[name]]
    predictions = student.predict([ex.question for ex in items])
    return np.array([unwrapped.task.is_correct(p, ex.answer) for p, ex in zip(predictions, items)], dtype=bool)


def _macro(env, correct: np.ndarray) -> float:
    per_skill = np.array_split(correct.astype(float), len(env.unwrapped.skill_names))
    return float(np.mean([s.mean() for s in per_skill]))


def _fresh_copy(student, **overrides):
    """A new student of the same class loaded from ``student``'s state; ``overrides`` change
    settings that are not saved with the weights (batch size of evaluation, threads)."""
    clone = type(student)(config=dataclasses.replace(student.config, **overrides))
    state = student.state_dict()
    state["config"] = dataclasses.asdict(clone.config)
    clone.load_state_dict(state)
    return clone


def evaluation_noise(steps: int, seed: int) -> None:
    env = gym.make(datagym.DEFAULT_ENV_ID)
    agent = make_agent("uniform", env)
    obs, info = env.reset(seed=seed)
    agent.reset(seed)
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(agent.act(obs, info))
    student = env.unwrapped.student
    cores = torch.get_num_threads()
    first = _grade(env, student)
    n = len(first)
    print(f"{datagym.DEFAULT_ENV_ID}, uniform, seed {seed}, after {steps} steps: macro validation accuracy "
          f"{_macro(env, first):.4f} ({int(first.sum())} of {n} questions right); torch threads {cores}\n")
    print("| grading of the same trained student | questions flipped | reward difference |")
    print("|---|---|---|")

    def row(label: str, other: np.ndarray) -> None:
        flips = int((other != first).sum())
        print(f"| {label} | {flips} of {n} ({flips / n:.2%}) | {_macro(env, other) - _macro(env, first):+.4f} |")

    row("the same evaluation again", _grade(env, student))
    row("after a state_dict round trip (a resumed run)", _grade(env, _fresh_copy(student)))
    other_batch = max(student.config.eval_batch_size // 4, 1)
    row(f"eval_batch_size {other_batch} instead of {student.config.eval_batch_size}",
        _grade(env, _fresh_copy(student, eval_batch_size=other_batch)))
    for threads in sorted({1, cores}):
        torch.set_num_threads(threads)
        row(f"{threads} torch thread(s)", _grade(env, _fresh_copy(student, torch_threads=threads)))
    torch.set_num_threads(cores)

    # One more step's training with 1 and with 2 threads, from the same state and data.
    unwrapped = env.unwrapped
    rng = np.random.default_rng(seed + 1)
    budget = unwrapped.config.step_budget
    names = unwrapped.skill_names
    examples = [unwrapped.task.generate(names[i % len(names)], rng) for i in range(budget)]
    rewards, weights = {}, {}
    for threads in (1, 2):
        clone = _fresh_copy(student, torch_threads=threads)
        clone.train(examples)
        rewards[threads] = _macro(env, _grade(env, clone)) - _macro(env, first)
        weights[threads] = torch.cat([p.detach().flatten() for p in clone.model.parameters()])
    torch.set_num_threads(cores)
    largest = float((weights[1] - weights[2]).abs().max())
    print(f"\none more step's training on the same {len(examples)} examples from the same state: reward with "
          f"1 thread {rewards[1]:+.4f}, with 2 threads {rewards[2]:+.4f} (difference "
          f"{rewards[2] - rewards[1]:+.4f}); largest weight difference after it {largest:.3g}")


def seeds_needed(sd_a: float, sd_b: float, gap: float) -> float:
    pooled = math.sqrt((sd_a**2 + sd_b**2) / 2)
    return math.inf if gap == 0 else 2 * Z**2 * pooled**2 / gap**2


def _sd(row) -> float:
    """Standard deviation over seeds of a board row's final test scores (``row.tests``: seed -> score)."""
    values = list(row.tests.values())
    return float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")


def seed_spread(sweep: Path) -> None:
    boards = board(load_results(sweep))
    for env, rows in boards.items():
        level = rows[0].level
        floor = next((r for r in rows if r.agent == RANDOM_AGENTS.get(level, "random")), None)
        ranked = sorted(rows, key=lambda r: -r.mean)
        print(f"\n### {env}\n")
        print("| agent | seeds | mean | s.d. over seeds | seeds to separate from the random floor | "
              "seeds to separate from the next agent below |")
        print("|---|---|---|---|---|---|")
        for i, r in enumerate(ranked):
            sd = _sd(r)
            cells = []
            for other in (floor, ranked[i + 1] if i + 1 < len(ranked) else None):
                if other is None or other is r or len(other.tests) < 2:
                    cells.append("")
                    continue
                n = seeds_needed(sd, _sd(other), abs(r.mean - other.mean))
                label = f"{math.ceil(n)}" if math.isfinite(n) else "never (equal means)"
                cells.append(f"{label} (gap {r.mean - other.mean:+.4f}, vs {other.agent})")
            print(f"| {r.agent} | {r.n} | {r.mean:.4f} | {sd:.4f} | {cells[0]} | {cells[1]} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--evaluation", action="store_true", help="measure the evaluation's noise")
    parser.add_argument("--steps", type=int, default=3, help="steps of training before the evaluations")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sweep", type=Path, default=None, help="a finished sweep: the spread over seeds")
    parser.add_argument("--json-out", default=None)
    args = parser.parse_args()
    if not args.evaluation and args.sweep is None:
        parser.error("pass --evaluation, --sweep DIR, or both")
    if args.evaluation:
        evaluation_noise(args.steps, args.seed)
    if args.sweep is not None:
        seed_spread(args.sweep)


if __name__ == "__main__":
    main()
