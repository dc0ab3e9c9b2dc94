"""Per-skill learning of the CPU student in a sweep of teachers: a table and a curve plot per env.

Reads every finished run below SWEEP_DIR (``summary.json`` and ``steps.jsonl``), groups them by
env and agent, and prints, per env, one markdown row per skill: its validation accuracy before
any teaching (step 0, the untrained student), and each agent's test accuracy at the end, mean
and standard deviation over the seeds. Writes ``skills_<env>.png`` next to SWEEP_DIR: one panel
per skill, validation accuracy by step, one line per agent (the mean over seeds, the band one
standard deviation).

    python benchmarks/task_curves_table.py benchmarks/task_curves/sweep
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np


def load_runs(sweep: Path) -> dict[str, dict[str, list[dict]]]:
    """env short name -> agent -> runs, each ``{"skills", "curve": steps x skills, "test": {...}}``."""
    runs: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for summary_path in sorted(sweep.rglob("summary.json")):
        summary = json.loads(summary_path.read_text())
        skills = summary["skills"]
        curve = [[summary["initial_accuracy"][s] for s in skills]]
        for line in (summary_path.parent / "steps.jsonl").read_text().splitlines():
            curve.append([json.loads(line)["student/accuracy"][s] for s in skills])
        runs[summary["env_short_name"]][summary["agent"]].append(
            {"skills": skills, "curve": np.array(curve), "test": summary["test_accuracy"], "seed": summary["seed"]}
        )
    return runs


def table(env: str, by_agent: dict[str, list[dict]]) -> str:
    agents = sorted(by_agent)
    skills = by_agent[agents[0]][0]["skills"]
    seeds = {agent: len(runs) for agent, runs in by_agent.items()}
    head = "| skill | untrained (validation) | " + " | ".join(f"{a} test ({seeds[a]} seeds)" for a in agents) + " |"
    lines = [f"{env}", "", head, "|---" * (2 + len(agents)) + "|"]
    untrained = np.mean([run["curve"][0] for runs in by_agent.values() for run in runs], axis=0)
    for i, skill in enumerate(skills + ["macro"]):
        cells = [f"{(untrained.mean() if skill == 'macro' else untrained[i]):.3f}"]
        for agent in agents:
            values = [np.mean([run["test"][s] for s in skills]) if skill == "macro" else run["test"][skill]
                      for run in by_agent[agent]]
            cells.append(f"{np.mean(values):.3f} ± {np.std(values, ddof=1) if len(values) > 1 else 0.0:.3f}")
        lines.append(f"| {'**macro**' if skill == 'macro' else skill} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(env: str, by_agent: dict[str, list[dict]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    skills = next(iter(by_agent.values()))[0]["skills"]
    columns = 4
    rows = -(-len(skills) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.6 * rows), sharex=True, sharey=True, squeeze=False)
    for i, skill in enumerate(skills):
        ax = axes[i // columns][i % columns]
        for agent, runs in sorted(by_agent.items()):
            length = min(len(run["curve"]) for run in runs)
            values = np.array([run["curve"][:length, i] for run in runs])
            mean, sd = values.mean(axis=0), values.std(axis=0)
            steps = np.arange(length)
            ax.plot(steps, mean, label=agent)
            ax.fill_between(steps, mean - sd, mean + sd, alpha=0.2)
        ax.set_title(skill, fontsize=9)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    for j in range(len(skills), rows * columns):
        axes[j // columns][j % columns].axis("off")
    axes[0][0].legend(fontsize=8)
    fig.supxlabel("step")
    fig.supylabel("validation accuracy")
    fig.suptitle(f"{env}: per-skill validation accuracy (mean ± sd over seeds)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path, help="a sweep directory (or any directory of run directories)")
    args = parser.parse_args()
    runs = load_runs(args.sweep)
    if not runs:
        raise SystemExit(f"Expected finished runs (summary.json) below {args.sweep}, found none.")
    for env, by_agent in sorted(runs.items()):
        print(table(env, by_agent))
        print()
        out = args.sweep.parent / f"skills_{env}.png"
        plot(env, by_agent, out)
        print(f"wrote {out}")
        print()


if __name__ == "__main__":
    main()
