"""Which reasoning-gym datasets the default CPU student learns: each candidate taught alone.

For each candidate dataset, a ReasoningGym Skill-List env over that dataset alone gets
``--budget`` examples (``--step`` a step, difficulty drawn uniformly over its usable curriculum
levels, as the held-out sets are) and the default student; the table gives held-out test
accuracy and validation accuracy at the end (an untrained student scores 0-0.04), and what
always writing the test set's commonest answer would score (``guess``). The default selection (ReasoningGymTask's
DEFAULT_DATASETS) is the candidates whose test accuracy rises by a clear margin; the table and
the choice are in benchmarks/README.md ("The ReasoningGym task").

    python benchmarks/reasoning_gym_selection.py [--budget 1920] [--step 384] [--max-level N] [DATASET ...]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import gymnasium as gym
import numpy as np

import datagym  # noqa: F401  (registers the envs)
from datagym.registration import REASONING_GYM_VERSIONS

#: every reasoning-gym dataset (0.1.25) whose first curriculum level writes questions and
#: answers short enough for the default student (a scan of all of them at max_chars 90-110),
#: less number_sequence, whose generator does not return at its curriculum level 2
CANDIDATES = (
    "basic_arithmetic", "chain_sum", "decimal_chain_sum", "products", "count_bits", "count_primes", "lcm",
    "simple_equations", "complex_arithmetic", "coin_flip", "spell_backward", "letter_counting",
    "calendar_arithmetic",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="*", default=list(CANDIDATES))
    parser.add_argument("--budget", type=int, default=1920)
    parser.add_argument("--step", type=int, default=384)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-level", type=int, default=None, help="the task's max_level (default: none, each whole curriculum as far as it fits)")
    args = parser.parse_args()
    version = max(REASONING_GYM_VERSIONS)
    env_id = f"datagym/ReasoningGym-SkillList-v{version}"
    print(f"{env_id}, one dataset at a time: {args.budget} examples, {args.step} a step, seed {args.seed}, "
          f"max_level {args.max_level}")
    print(f"{'dataset':<22}{'levels':>7}{'guess':>7}{'test after':>12}{'val after':>11}{'rejected':>10}{'s':>7}")
    for name in args.datasets:
        started = time.perf_counter()
        env = gym.make(env_id, total_budget=args.budget, step_budget=args.step, timings=False,
                       task_options={"datasets": [name], "max_level": args.max_level})
        env.reset(seed=args.seed)
        raw = env.unwrapped
        rejected = 0
        done = False
        while not done:
            _, _, terminated, truncated, info = env.step(np.ones(1, dtype=np.float32))
            rejected += sum(info["teacher/rejected"].values())
            done = terminated or truncated
        levels = len(raw.task.levels(name))
        answers = Counter(ex.answer for ex in raw.task.heldout("test")[name])
        guess = answers.most_common(1)[0][1] / sum(answers.values())  # always writing the commonest answer
        print(f"{name:<22}{levels:>7}{guess:>7.2f}{info['student/test_accuracy'][name]:>12.3f}"
              f"{info['student/accuracy'][name]:>11.3f}{rejected:>10}{time.perf_counter() - started:>7.0f}", flush=True)
        env.close()


if __name__ == "__main__":
    main()
