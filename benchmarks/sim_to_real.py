"""Sim-to-real validity: does the simulated student rank the teachers as the real one does?

Runs every Skill-List agent on datagym/Arithmetic-SkillList-v1 with the simulated student
(same seeds, same budgets as the committed leaderboard's real runs, seeds 0-9), reads the real
runs' final test macro accuracy from the committed sweep (benchmarks/leaderboard/sweep), and
prints both scores side by side with Kendall's tau between the two rankings of the means.

    python benchmarks/sim_to_real.py [--parameters FILE] [--seeds 10] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
from scipy import stats

import datagym  # noqa: F401
from datagym.agents.registry import AGENTS, agent_class, make_agent
from datagym.runner import run_episode

ENV = "datagym/Arithmetic-SkillList-v1"
SWEEP = Path(__file__).resolve().parent / "leaderboard" / "sweep"


def real_scores(seeds: range) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    for path in SWEEP.rglob("summary.json"):
        summary = json.loads(path.read_text(encoding="utf-8"))
        if summary.get("env_id") == ENV and summary.get("seed") in seeds:
            out.setdefault(summary["agent"], {})[summary["seed"]] = float(summary["test_macro_accuracy"])
    return out


def skill_list_agents() -> list[str]:
    return [name for name in AGENTS if "skill_list" in getattr(agent_class(name), "levels", ("skill_list",))]


def sim_scores(agents: list[str], seeds: range, parameters: str | None) -> dict[str, dict[int, float]]:
    options = {"parameters": parameters} if parameters else {}
    out: dict[str, dict[int, float]] = {}
    for name in agents:
        for seed in seeds:
            env = gym.make(ENV, student="simulated", student_options=options, timings=False)
            summary = run_episode(env, make_agent(name, env), seed=seed)
            out.setdefault(name, {})[seed] = float(summary["test_macro_accuracy"])
    return out


def compare(real: dict[str, dict[int, float]], sim: dict[str, dict[int, float]]) -> tuple[list[tuple], float, float]:
    rows = []
    for name in sim:
        if name not in real:
            continue
        r, s = np.array(list(real[name].values())), np.array(list(sim[name].values()))
        rows.append((name, r.mean(), r.std(ddof=1) / np.sqrt(len(r)), len(r), s.mean(), s.std(ddof=1) / np.sqrt(len(s))))
    rows.sort(key=lambda row: -row[1])
    tau, p = stats.kendalltau([row[1] for row in rows], [row[4] for row in rows])
    return rows, float(tau), float(p)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parameters", default=None, help="a parameter file (default: the packaged fit)")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--markdown", action="store_true", help="print the table as markdown")
    args = parser.parse_args()
    seeds = range(args.seeds)
    agents = skill_list_agents()
    started = time.perf_counter()
    sim = sim_scores(agents, seeds, args.parameters)
    elapsed = time.perf_counter() - started
    rows, tau, p = compare(real_scores(seeds), sim)
    if args.markdown:
        print("| agent | real test accuracy (s.e.) | simulated (s.e.) | real rank | simulated rank |")
        print("|---|---|---|---|---|")
    sim_rank = {row[0]: i + 1 for i, row in enumerate(sorted(rows, key=lambda row: -row[4]))}
    for i, (name, r, r_se, n, s, s_se) in enumerate(rows):
        if args.markdown:
            print(f"| {name} | {r:.3f} ({r_se:.3f}) | {s:.3f} ({s_se:.3f}) | {i + 1} | {sim_rank[name]} |")
        else:
            print(f"{name:18s} real {r:.3f} ± {r_se:.3f} (n={n})  sim {s:.3f} ± {s_se:.3f}  ranks {i + 1} / {sim_rank[name]}")
    print(f"Kendall's tau between the rankings: {tau:+.2f} (p {p:.3g}), {len(rows)} agents, seeds 0-{args.seeds - 1}; "
          f"{len(rows) * args.seeds} simulated episodes in {elapsed:.1f} s")


if __name__ == "__main__":
    main()
