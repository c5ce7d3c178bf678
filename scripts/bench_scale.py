"""Throughput of the executors: tasks per minute in this process and on 1 and 2 Ray workers.

Usage (from the repository root; needs ``pip install -e ".[distributed]"``)::

    python scripts/bench_scale.py [--tasks 8] [--size 256] [--iterations 40,20]

Each task is one transfer of the sample pair in ``data/`` (random weights of the default
depth, the sample's masks), as an ablation's pair-and-variant task is: the variants differ
by seed. The local executor runs them one after another with torch's threads on every core;
a Ray worker reserves one CPU and runs one task at a time with one thread. Prints the
measured tasks per minute and, from the measured seconds per task, an estimate of the
60-pair x 8-variant sweep on 1, 8 and 64 nodes like this one.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def tasks(n: int, size: int, iterations: str) -> list[Any]:
    from photostyle.engine.config import TransferConfig, parse_int_list
    from photostyle.engine.masks import read_mask
    from photostyle.files.images import load_image
    from photostyle.runs.executors import Task

    content = load_image(REPO / "data" / "content.png")
    style = load_image(REPO / "data" / "style.png")
    c_mask = read_mask(REPO / "data" / "content_mask.png")
    s_mask = read_mask(REPO / "data" / "style_mask.png")
    return [Task(str(i), content, style,
                 TransferConfig(vgg_weights="random", size=size, seed=i, device="cpu",
                                iterations=parse_int_list(iterations, "--iterations")),
                 c_mask, s_mask)
            for i in range(n)]


def measure(executor: Any, work: list[Any]) -> tuple[float, float]:
    """(wall seconds for all tasks, mean seconds of one task's transfer)."""
    executor.preload(work[0].config, work[0].config.layers_in_use())
    start = time.perf_counter()
    seconds = []
    for outcome in executor.run(iter(work)):
        if outcome.error:
            raise RuntimeError(outcome.error)
        seconds.append(outcome.result.report["timings"]["total"])
    return time.perf_counter() - start, sum(seconds) / len(seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iterations", default="40,20")
    parser.add_argument("--default-task-seconds", type=float, default=53.3,
                        help="one task at the defaults on one such node (docs/RESULTS.md: "
                        "53.3 s per pair on 2 cores)")
    args = parser.parse_args(argv)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    from photostyle.runs.executors import LocalExecutor, RayExecutor

    work = tasks(args.tasks, args.size, args.iterations)
    rows = []
    wall, per_task = measure(LocalExecutor(), work)
    rows.append(("local (1 process, all cores)", wall, per_task))
    import ray

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    try:
        for workers in (1, 2):
            executor = RayExecutor(workers=workers)
            try:
                wall, per_task = measure(executor, work)
            finally:
                executor.close()
            rows.append((f"ray, {workers} worker{'s' if workers > 1 else ''}", wall,
                         per_task))
    finally:
        ray.shutdown()
    print(f"{args.tasks} tasks: the sample pair at working size {args.size}, iterations "
          f"{args.iterations}, random weights; {os.cpu_count()} CPU cores")
    print(f"{'executor':<32} {'wall s':>8} {'s/task':>8} {'tasks/min':>10}")
    for name, wall, per_task in rows:
        print(f"{name:<32} {wall:8.1f} {per_task:8.2f} {60 * args.tasks / wall:10.2f}")
    best = max(rows, key=lambda r: args.tasks / r[1])
    speedup = (args.tasks / best[1]) / (args.tasks / rows[0][1])
    sweep = 60 * 8
    node_rate = speedup * 60 / args.default_task_seconds  # default tasks per minute a node
    print(f"\nestimate: the 60-pair x 8-variant sweep ({sweep} tasks at the defaults, "
          f"{args.default_task_seconds:.1f} s a task on one node in this process; the best "
          f"executor above does {speedup:.2f}x that)")
    for nodes in (1, 8, 64):
        minutes = sweep / (node_rate * nodes)
        print(f"  {nodes:>2} node(s): {minutes:7.1f} min ({minutes / 60:.1f} h)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
