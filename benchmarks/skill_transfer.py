"""How skills differ in learning speed and transfer to one another.

    python benchmarks/skill_transfer.py --examples 1152 --seed 0

For each skill, a fresh default student trains on that skill alone (in steps of the env's
step budget, continual training as in the env) and is evaluated on every skill's validation
set. Prints (1) each skill's own accuracy after each step, i.e. how fast it is learned alone,
and (2) the transfer matrix: the change in each skill's validation loss caused by training
on another skill, next to the change a same-sized dose of an unrelated family gives.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from datagym.envs.arithmetic.task import ArithmeticTask
from datagym.students.transformer_student import TransformerStudent


def train_alone(job: tuple) -> dict:
    skill, examples, step_budget, seed = job
    task = ArithmeticTask()
    validation = task.heldout("validation")
    names = task.skill_names
    items = [ex for name in names for ex in validation[name]]
    rng = np.random.default_rng(seed)
    student = TransformerStudent()
    student.reset(seed)

    def measure() -> tuple[np.ndarray, np.ndarray]:
        predictions = student.predict([ex.question for ex in items])
        losses = student.loss(items)
        acc, loss = np.zeros(len(names)), np.zeros(len(names))
        for ex, pred, value in zip(items, predictions, losses):
            i = names.index(ex.skill)
            acc[i] += task.is_correct(pred, ex.answer) / len(validation[ex.skill])
            loss[i] += value / len(validation[ex.skill])
        return acc, loss

    acc0, loss0 = measure()
    curve = [float(acc0[names.index(skill)])]
    done = 0
    while done < examples:
        n = min(step_budget, examples - done)
        batch = []
        while len(batch) < n:
            ex = task.generate(skill, rng)
            if not task.is_test_question(ex.question):
                batch.append(ex)
        student.train(batch)
        done += n
        acc, loss = measure()
        curve.append(float(acc[names.index(skill)]))
    return {"skill": skill, "curve": curve, "accuracy": acc.tolist(), "loss_change": (loss - loss0).tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=1152, help="training examples of the one skill")
    parser.add_argument("--step-budget", type=int, default=384)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json-out", default=None)
    args = parser.parse_args()
    names = ArithmeticTask().skill_names
    jobs = [(skill, args.examples, args.step_budget, args.seed) for skill in names]
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(train_alone, jobs))

    steps = len(results[0]["curve"])
    print(f"## Learning a skill alone ({args.examples} examples, {args.step_budget} per step, seed {args.seed})\n")
    print("| skill | " + " | ".join(f"after {i * args.step_budget}" for i in range(steps)) + " |")
    print("|---|" + "---|" * steps)
    for r in results:
        print(f"| {r['skill']} | " + " | ".join(f"{a:.2f}" for a in r["curve"]) + " |")

    matrix = np.array([r["loss_change"] for r in results])  # row: trained skill; column: measured skill
    print("\n## Transfer: change in validation loss (nats/token) of the measured skill (column)")
    print("after training only on the trained skill (row); more negative = more transfer\n")
    short = [n.replace("compare_", "cmp_") for n in names]
    print("| trained \\ measured | " + " | ".join(short) + " |")
    print("|---|" + "---|" * len(names))
    for name, row in zip(names, matrix):
        print(f"| {name} | " + " | ".join(f"{v:+.2f}" for v in row) + " |")
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump({"args": vars(args), "skills": list(names), "results": results}, fh, indent=2)


if __name__ == "__main__":
    main()
