"""Training throughput of the default student by batch size, width, depth and threads.

    python benchmarks/student_throughput.py

``train`` calls (1 epoch, no replay) on 1536 arithmetic examples (all skills, round robin) per
setting, after a warm-up call, in one process; prints the median over ``--repeats`` calls of
seconds, examples per second and milliseconds per optimiser update. Mixed batches and fused AdamW, as the v1 student trains.
It says what an episode's time buys: when examples per second stop growing with the batch,
the loop is bound by arithmetic, not by per-update overhead, and only a smaller model (or
fewer passes) makes room for more data.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from datagym.registration import make_student, make_task

SETTINGS = (  # batch size, threads, layers, width
    (16, 2, 2, 128), (32, 2, 2, 128), (64, 2, 2, 128), (128, 2, 2, 128), (64, 1, 2, 128),
    (16, 2, 2, 64), (32, 2, 2, 64), (64, 2, 2, 64), (32, 2, 2, 96), (32, 2, 3, 64), (32, 2, 4, 64),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=1536)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    task = make_task("arithmetic")
    rng = np.random.default_rng(0)
    names = task.skill_names
    examples = [task.generate(names[i % len(names)], rng) for i in range(args.examples)]
    print(f"{args.examples} examples, 1 epoch, median of {args.repeats}, load average {os.getloadavg()[0]:.2f}\n")
    print("| batch | threads | layers | width | seconds | examples/s | ms per update |")
    print("|---|---|---|---|---|---|---|")
    for batch, threads, layers, width in SETTINGS:
        student = make_student("transformer", batch_size=batch, torch_threads=threads, n_layer=layers, n_embd=width,
                               epochs=1, replay=0.0)
        student.prepare(task)
        student.reset(0)
        student.train(examples[:64])  # warm-up
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            student.train(examples)
            times.append(time.perf_counter() - start)
        seconds = float(np.median(times))
        print(f"| {batch} | {threads} | {layers} | {width} | {seconds:.2f} | {args.examples / seconds:.0f} | "
              f"{1000 * seconds / -(-args.examples // batch):.1f} |", flush=True)


if __name__ == "__main__":
    main()
