"""Where each teacher put its data, and whether the student could learn there.

    python benchmarks/allocation_diagnosis.py benchmarks/leaderboard/sweep \
        --env datagym/Arithmetic-SkillList-v1

Reads the run directories of a sweep (``steps.jsonl`` and ``summary.json`` of every finished
trial of ``--env``; the steps are kept on the machine that ran the sweep, git keeps only the
summaries). Skills are split by what the ``--reference`` teacher (default ``uniform``: equal
data everywhere) reaches on them at the end, averaged over its seeds: *learned* (final test
accuracy at least 0.5), *learning* (0.15 to 0.5) and *stuck* (below 0.15). For each agent it
prints the share of its requested examples that went to each group over the episode, and in
the first and second halves of the episode, its final macro test accuracy, and its mean final
accuracy on each group: a teacher that puts its data on stuck skills, or starves the skills
being learned, shows it here as a measurement.

Then forgetting, per agent: over every pair of consecutive steps, the change in validation
accuracy of each skill that stood at ``--forget-from`` (default 0.3) or more before the step,
averaged separately over the skills the step gave data to and the skills it left out (which
only the student's replay of old examples trains).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import gymnasium as gym
import numpy as np

import datagym  # noqa: F401  (registers the envs)

GROUPS = (("learned", 0.5, 1.01), ("learning", 0.15, 0.5), ("stuck", -0.01, 0.15))


def load(sweep: Path, env_id: str) -> dict[str, list[dict]]:
    """agent -> list of runs, each {"requested": [per-step {skill: n}], "test": {skill: acc}, "macro": x}."""
    runs: dict[str, list[dict]] = defaultdict(list)
    registered = dict(gym.spec(env_id).kwargs)
    for run in sorted(p for p in sweep.iterdir() if (p / "summary.json").exists()):
        summary = json.loads((run / "summary.json").read_text())
        config = json.loads((run / "config.json").read_text())
        # only runs made with the env's registered options (the board's protocol)
        if config.get("env_id") != env_id or config.get("env_options") != registered:
            continue
        steps_path = run / "steps.jsonl"
        requested, accuracy = [], []
        if steps_path.exists():
            for line in steps_path.read_text().splitlines():
                step = json.loads(line)
                requested.append(step.get("teacher/requested") or {})
                accuracy.append(step.get("student/accuracy") or {})
        runs[summary["agent"]].append({"requested": requested, "accuracy": accuracy, "test": summary["test_accuracy"],
                                       "macro": summary["test_macro_accuracy"]})
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep", type=Path)
    parser.add_argument("--env", default="datagym/Arithmetic-SkillList-v1")
    parser.add_argument("--reference", default="uniform")
    parser.add_argument("--forget-from", type=float, default=0.3)
    args = parser.parse_args()
    runs = load(args.sweep, args.env)
    if args.reference not in runs:
        raise SystemExit(f"no finished {args.reference!r} runs of {args.env} in {args.sweep}")
    skills = sorted(runs[args.reference][0]["test"])
    reference = {s: float(np.mean([r["test"][s] for r in runs[args.reference]])) for s in skills}
    group_of = {s: next(name for name, lo, hi in GROUPS if lo <= reference[s] < hi) for s in skills}
    print(f"{args.env}, {args.sweep}: skills grouped by {args.reference}'s final test accuracy "
          f"({len(runs[args.reference])} seeds)\n")
    for name, _, _ in GROUPS:
        members = [f"{s} {reference[s]:.2f}" for s in skills if group_of[s] == name]
        print(f"- {name} ({len(members)}): {', '.join(members)}")
    print("\n| agent | seeds | final macro test | data share learned / learning / stuck (whole episode) | "
          "first half | second half | final accuracy on learned / learning / stuck |")
    print("|---|---|---|---|---|---|---|")
    order = sorted(runs, key=lambda a: -np.mean([r["macro"] for r in runs[a]]))
    for agent in order:
        shares = {"all": [], "first": [], "second": []}
        for r in runs[agent]:
            steps = r["requested"]
            half = len(steps) // 2
            for key, part in (("all", steps), ("first", steps[:half]), ("second", steps[half:])):
                totals = defaultdict(float)
                for step in part:
                    for skill, n in step.items():
                        totals[group_of.get(skill, "stuck")] += n
                whole = sum(totals.values())
                if whole:
                    shares[key].append([totals[g] / whole for g, _, _ in GROUPS])

        def text(key: str) -> str:
            if not shares[key]:
                return "no data"
            return " / ".join(f"{x:.2f}" for x in np.mean(shares[key], axis=0))

        accuracy = [np.mean([np.mean([r["test"][s] for s in skills if group_of[s] == g] or [np.nan])
                             for r in runs[agent]]) for g, _, _ in GROUPS]
        macro = np.mean([r["macro"] for r in runs[agent]])
        print(f"| {agent} | {len(runs[agent])} | {macro:.4f} | {text('all')} | {text('first')} | {text('second')} | "
              f"{' / '.join(f'{a:.2f}' for a in accuracy)} |")

    print(f"\nChange in validation accuracy over one step of skills at {args.forget_from} or more before it:\n")
    print("| agent | given data: steps x skills | mean change | left out: steps x skills | mean change |")
    print("|---|---|---|---|---|")
    for agent in order:
        given, left = [], []
        for r in runs[agent]:
            for t in range(1, len(r["accuracy"])):
                before, after, step = r["accuracy"][t - 1], r["accuracy"][t], r["requested"][t]
                for skill, value in after.items():
                    if before.get(skill, 0.0) >= args.forget_from:
                        (given if step.get(skill, 0) > 0 else left).append(value - before[skill])

        def cell(values: list[float]) -> str:
            return f"{len(values)} | {np.mean(values):+.3f}" if values else "0 | "

        print(f"| {agent} | {cell(given)} | {cell(left)} |")


if __name__ == "__main__":
    main()
