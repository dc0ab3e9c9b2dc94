"""What a Skill-List allocation can gain at most, and when a teacher could know how to get it.

    python benchmarks/allocation_ceiling.py benchmarks/leaderboard/sweep --env datagym/Arithmetic-SkillList-v1

1. **The hopeless skills.** From the ``uniform`` runs of ``--env`` in the sweep (their
   ``steps.jsonl``): the skills whose validation accuracy at the last step, averaged over
   seeds, stays below ``--hopeless-below`` (0.2), and the ones at ``--saturated-from`` (0.95)
   or more (learned almost at once). Validation, not test: the test set stays out of every
   choice.
2. **The ceiling.** It prints the command that runs ``OracleAllocation`` (below) over the same
   seeds: a static allocation that knows from the first step what the uniform runs only show
   at the end: nothing for the hopeless skills, a fifth of a share for the saturated ones, an
   equal share for the rest. It reads no observation, so it is a bound on what knowing where
   data is wasted is worth, not a teacher.
3. **When the evidence arrives.** After each step t of the uniform runs (equal data for
   every skill, so the student's scores are comparable) it ranks the skills by two signals a
   teacher can see, the validation loss and its relative fall since the first step, takes the
   ``k = t`` worst (highest loss, least fall), and counts per seed how many of them are hopeless
   skills and how many are skills that uniform ends with at ``--learned-from`` (0.5) or more:
   the price a teacher pays for acting on the evidence at step t.

With ``--oracle DIR`` (the sweep of the printed command) it also prints the oracle's scores
against uniform's.
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from datagym.agents.base import SkillListAgent


class OracleAllocation(SkillListAgent):
    """A fixed allocation by skill name (the ceiling probe; it reads no observation).

    Args:
        weights: skill name -> relative weight; a skill not named gets 1.
        task: the registered task whose skill order the env's action follows.
    """

    def __init__(self, action_space, observation_space, weights: dict[str, float] | None = None,
                 task: str = "arithmetic") -> None:
        super().__init__(action_space, observation_space)
        from datagym.registration import make_task

        names = make_task(task).skill_names
        unknown = sorted(set(weights or {}) - set(names))
        if unknown:
            raise ValueError(f"Expected skill names of task {task!r}, got unknown {unknown}; the skills are {list(names)}.")
        self.fixed = np.array([float((weights or {}).get(n, 1.0)) for n in names])

    def act(self, observation: Any, info: dict[str, Any]) -> Any:
        return self.weights(self.fixed)


def runs_of(sweep: Path, env_short: str, agent: str) -> list[dict]:
    out = []
    for run in sorted(sweep.glob(f"{env_short}-{agent}-seed*")):
        steps_path = run / "steps.jsonl"
        if not (run / "summary.json").exists() or not steps_path.exists():
            continue
        steps = [json.loads(line) for line in steps_path.read_text().splitlines()]
        summary = json.loads((run / "summary.json").read_text())
        out.append({"steps": steps, "test": summary["test_macro_accuracy"], "seed": summary["seed"]})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep", type=Path)
    parser.add_argument("--env", default="datagym/Arithmetic-SkillList-v1")
    parser.add_argument("--hopeless-below", type=float, default=0.2)
    parser.add_argument("--saturated-from", type=float, default=0.95)
    parser.add_argument("--learned-from", type=float, default=0.5)
    parser.add_argument("--oracle", type=Path, help="the sweep directory of the printed oracle command")
    args = parser.parse_args()

    short = args.env.split("/")[-1]
    uniform = runs_of(args.sweep, short, "uniform")
    if not uniform:
        raise SystemExit(f"Expected uniform runs of {args.env} with steps.jsonl in {args.sweep}, found none.")
    names = sorted(uniform[0]["steps"][-1]["student/accuracy"])
    final = np.array([[r["steps"][-1]["student/accuracy"][n] for n in names] for r in uniform]).mean(0)
    hopeless = [n for n, a in zip(names, final) if a < args.hopeless_below]
    saturated = [n for n, a in zip(names, final) if a >= args.saturated_from]
    learned = {n for n, a in zip(names, final) if a >= args.learned_from}
    print(f"uniform: {len(uniform)} runs, final macro test accuracy {np.mean([r['test'] for r in uniform]):.4f}")
    print("final validation accuracy per skill (mean over seeds):")
    for n, a in zip(names, final):
        tag = "hopeless" if n in hopeless else "saturated" if n in saturated else "learned" if n in learned else ""
        print(f"  {n:22s} {a:.2f}  {tag}")

    weights = {**{n: 0.0 for n in hopeless}, **{n: 0.2 for n in saturated}}
    seeds = sorted(r["seed"] for r in uniform)
    print("\nthe ceiling probe (run from benchmarks/):")
    print("  datagym sweep --import allocation_ceiling --env", args.env,
          "--agent allocation_ceiling:OracleAllocation --agent-options",
          shlex.quote(json.dumps({"weights": weights})), f"--seeds {seeds[0]}-{seeds[-1]} --workers 2 --out ../sweeps/oracle")

    print("\nwhen the evidence arrives: the k = t worst skills after step t (per seed: hopeless / learned among them)")
    print("| after step | k | highest loss: hopeless | highest loss: learned | least relative fall: hopeless | least relative fall: learned |")
    print("|---|---|---|---|---|---|")
    n_steps = min(len(r["steps"]) for r in uniform)
    for t in range(1, min(n_steps, 7) + 1):
        counts = {"level": [0, 0], "fall": [0, 0]}
        for r in uniform:
            loss = np.array([[s["student/loss"][n] for n in names] for s in r["steps"]])
            signals = {"level": -loss[t - 1]}
            if t > 1:
                signals["fall"] = (loss[0] - loss[t - 1]) / loss[0]
            for key, signal in signals.items():
                worst = [names[i] for i in np.argsort(signal, kind="stable")[:t]]
                counts[key][0] += sum(n in hopeless for n in worst)
                counts[key][1] += sum(n in learned for n in worst)
        k = len(uniform)
        fall = (f"{counts['fall'][0] / k:.1f} | {counts['fall'][1] / k:.1f}") if t > 1 else "- | -"
        print(f"| {t} | {t} | {counts['level'][0] / k:.1f} | {counts['level'][1] / k:.1f} | {fall} |")

    if args.oracle:
        oracle = [json.loads(p.read_text())["test_macro_accuracy"] for p in sorted(args.oracle.glob("*/summary.json"))]
        u = [r["test"] for r in uniform]
        t_stat, p = stats.ttest_ind(oracle, u, equal_var=False)
        print(f"\noracle: {np.mean(oracle):.4f} (s.d. {np.std(oracle, ddof=1):.3f}, {len(oracle)} seeds) against uniform "
              f"{np.mean(u):.4f} (s.d. {np.std(u, ddof=1):.3f}): +{np.mean(oracle) - np.mean(u):.4f}, Welch t {t_stat:+.2f}, p {p:.2g}")


if __name__ == "__main__":
    main()
