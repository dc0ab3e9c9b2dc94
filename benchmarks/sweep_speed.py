"""Sweep speed on Ray (8 short episodes on 2 workers against 1) and a worker killed mid-sweep.

    python benchmarks/sweep_speed.py                      # both parts, prints markdown
    python benchmarks/sweep_speed.py --no-fault           # the speed part only

Speed: the same sweep (the ``uniform`` teacher on the default env, seeds 0..N-1, default
student on one torch thread per worker) runs on a fresh local Ray instance with 1 CPU, then
with 2; each trial is a Ray task asking for one CPU, so Ray runs 1 or 2 at once. Worker processes
are started and have imported torch and transformers before the clock starts (a one-off cost
per worker process, printed apart), so the ratio is that of the sweep's own work; the table
says how many worker processes the trials ran in.

Fault: the same sweep on 2 workers again; once trial ``seed1`` has finished step 1 and is half
way into step 2, ``kill -9`` goes to the PID of the Ray worker running it (the PID the trial
reported to the sweep's progress actor). Ray retries the task; the retry finds the trial's
checkpoint and resumes. Printed: whether every trial completed, the killed trial's attempts
and the step it resumed from, how many finished steps were done twice, the seconds of the
step in flight that were lost, and whether its run directory equals the uninterrupted one.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ray

import datagym
from datagym.run_dir import RunDirectory
from datagym.sweep import SweepGrid, run_sweep, trial_name, validate


def _grid(args: argparse.Namespace) -> SweepGrid:
    options = {"total_budget": args.total_budget, "step_budget": args.step_budget, "timings": False,
               "student_options": {"torch_threads": 1}}
    return SweepGrid(envs=[datagym.DEFAULT_ENV_ID], agents=["uniform"], seeds=list(range(args.episodes)),
                     env_options=[options])


@ray.remote(num_cpus=0)
def _warm_worker() -> int:
    import datagym.runner  # noqa: F401
    import datagym.students.transformer_student  # noqa: F401  (torch, transformers)

    time.sleep(2.0)  # held long enough that each warm-up task gets a worker of its own
    return os.getpid()


def _start_ray(workers: int) -> float:
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    t0 = time.perf_counter()
    # one warm worker per trial slot, and one for the sweep's progress actor (an actor takes an
    # idle worker too); num_cpus=0 so that they all start at once
    ray.get([_warm_worker.remote() for _ in range(workers + 1)])
    return time.perf_counter() - t0 - 2.0


def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def _recorded(path: Path) -> tuple:
    run = RunDirectory(path)
    summary = {k: v for k, v in run.summary().items() if k != "seconds"}
    return run.steps(), [run.step_data(r["step"]) for r in run.steps()], summary


def speed(args: argparse.Namespace, root: Path, planned: dict) -> dict[int, float]:
    seconds = {}
    print("| workers | sweep wall s | episodes / min | worker PIDs used | warm-up s (not timed) | load avg before -> after |")
    print("|---|---|---|---|---|---|")
    for workers in (1, 2):
        before = _load()
        warm = _start_ray(workers)
        t0 = time.perf_counter()
        result = run_sweep(_grid(args), root / f"w{workers}", max_retries=0, planned=planned, poll_seconds=0.5)
        seconds[workers] = time.perf_counter() - t0
        ray.shutdown()
        assert result.count("done") == args.episodes, [s.error for s in result.failed]
        pids = len({s.pid for s in result.trials.values()})
        print(f"| {workers} | {seconds[workers]:.1f} | {60 * args.episodes / seconds[workers]:.2f} | {pids} | "
              f"{warm:.1f} | {before} -> {_load()} |", flush=True)
    print(f"\nspeed-up, 2 workers over 1: **{seconds[1] / seconds[2]:.2f}x**\n", flush=True)
    return seconds


def fault(args: argparse.Namespace, root: Path, planned: dict) -> None:
    victim = trial_name(datagym.DEFAULT_ENV_ID, "uniform", 1)
    state: dict = {"killed": None, "first_seen": None}

    def on_update(statuses: dict, events: list) -> None:
        s = statuses[victim]
        if state["killed"] is not None or s.state != "running" or s.steps < 1 or s.pid is None:
            return
        now = time.perf_counter()
        if state["first_seen"] is None:
            state["first_seen"] = now  # step 1 finished (and checkpointed); step 2 is under way
        elif now - state["first_seen"] >= args.kill_delay:
            subprocess.run(["kill", "-9", str(s.pid)], check=True)
            state["killed"] = {"pid": s.pid, "after_step": s.steps, "into_step": now - state["first_seen"]}

    before = _load()
    _start_ray(2)
    t0 = time.perf_counter()
    result = run_sweep(_grid(args), root / "fault", max_retries=2, planned=planned, on_update=on_update,
                       poll_seconds=0.2)
    wall = time.perf_counter() - t0
    ray.shutdown()
    killed = state["killed"]
    status = result.trials[victim]
    same = _recorded(root / "fault" / victim) == _recorded(root / "w2" / victim)
    print(f"- command: `kill -9 {killed['pid']}` (the Ray worker running `{victim}`), "
          f"{killed['into_step']:.1f} s into step {killed['after_step'] + 1}")
    print(f"- trials completed: {result.count('done')} of {args.episodes} "
          f"(failed: {len(result.failed)}); sweep wall {wall:.1f} s; load avg {before} -> {_load()}")
    print(f"- `{victim}`: {status.attempts} attempts, the retry resumed from step "
          f"{status.resumed_from[0] if status.resumed_from else 'none'} (its checkpoint); finished steps done "
          f"twice: {status.steps_redone}; lost: the {killed['into_step']:.1f} s of step {killed['after_step'] + 1} "
          f"in flight, redone by the retry")
    print(f"- its run directory equals the uninterrupted run's (2-worker sweep above), steps, data and "
          f"summary less wall-clock seconds: **{'yes' if same else 'NO'}**")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--total-budget", type=int, default=768, help="examples per episode (default: 2 steps)")
    parser.add_argument("--step-budget", type=int, default=384)
    parser.add_argument("--kill-delay", type=float, default=2.5, help="seconds into step 2 of the killed trial")
    parser.add_argument("--no-fault", action="store_true", help="skip the kill -9 part")
    parser.add_argument("--out", type=Path, default=None, help="where the sweeps go (default: a temporary dir)")
    args = parser.parse_args()

    print(f"# sweep_speed: {args.episodes} episodes of {args.total_budget} examples ({args.step_budget} a step), "
          f"`uniform`, default student, 1 torch thread per worker; {os.cpu_count()} CPUs; "
          f"python {sys.version.split()[0]}, ray {ray.__version__}\n")
    if args.out is not None and args.out.exists() and any(args.out.iterdir()):
        parser.error(f"--out: expected a new or empty directory (a finished sweep would be skipped), got {args.out}")
    with tempfile.TemporaryDirectory() as tmp:
        root = args.out or Path(tmp)
        planned = validate(_grid(args))
        speed(args, root, planned)
        if not args.no_fault:
            fault(args, root, planned)


if __name__ == "__main__":
    main()
