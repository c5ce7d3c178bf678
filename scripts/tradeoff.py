"""Time against quality: the table used to choose the default schedule.

Usage::

    python scripts/tradeoff.py runs/sched512 [runs/long320 ...] \\
        [--coarse-step 0.513] [--fine-step 2.343] [--fixed 4.3]

Reads the ``results.jsonl`` (and the per-run reports) of one or more ``photostyle ablate``
folders whose variants differ in their schedule (``iterations``, ``size``, ``scales``). For
each variant it prints the mean of each measure over the pairs, next to the time that
schedule takes **with the full-depth VGG19 on this machine**: ``fixed + coarse steps x
coarse s/step + finest steps x fine s/step``, from the seconds per step that
``scripts/bench.py`` measured at the default working size (the ablations may run a
shallower network or share the CPU, so their own timings are not what a user sees).
Schedules at another working size are timed with ``--step-at SIZE=COARSE,FINE``. Only
pairs that every variant has are used.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from photostyle.ablate import read_results

MEASURES = ("style_sw", "style_frechet", "structure_ssim", "affine_residual")


def steps_of(report: dict) -> list[int]:
    return [int(level["evaluations"]) for level in report["levels"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--coarse-step", type=float, default=0.513,
                        help="s/step of a coarse level at the default size (bench.py)")
    parser.add_argument("--fine-step", type=float, default=2.343,
                        help="s/step of the finest level at the default size (bench.py)")
    parser.add_argument("--fixed", type=float, default=4.3,
                        help="seconds outside the optimisation (bench.py stages)")
    parser.add_argument("--step-at", action="append", default=[], metavar="SIZE=C,F",
                        help="s/step (coarse, finest) at another working size")
    args = parser.parse_args()
    steps_at = {512: (args.coarse_step, args.fine_step)}
    for item in args.step_at:
        size, _, pair = item.partition("=")
        c, f = (float(v) for v in pair.split(","))
        steps_at[int(size)] = (c, f)

    rows = []
    for folder in args.folders:
        for row in read_results(folder):
            row = dict(row, folder=folder.name)
            if row["variant"] != "published":
                report = json.loads((folder / Path(row["image"]).with_suffix(".json"))
                                    .read_text())
                row["steps"] = steps_of(report)
                row["size"] = int(report["config"]["size"])
            rows.append(row)
    runs = {(r["folder"], r["variant"]) for r in rows if r["variant"] != "published"}
    pairs = set.intersection(*({r["pair"] for r in rows if (r["folder"], r["variant"]) == run}
                               for run in runs))
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        if row["pair"] in pairs:
            groups.setdefault((row["folder"], row["variant"]), []).append(row)
    print(f"{len(pairs)} pairs: {', '.join(sorted(pairs))}")
    print(f"{'run':<40} {'est. time':>9} {'steps':>10} " + " ".join(f"{m:>15}" for m in MEASURES))
    seen_published = False
    for (folder, variant), sel in sorted(groups.items(), key=lambda kv: kv[0]):
        if variant == "published":
            if seen_published:
                continue
            seen_published = True
            name, time_text, steps_text = "published (paper)", "-", "2x1000"
        else:
            name = f"{folder}/{variant}"
            steps = sel[0]["steps"]
            size = sel[0]["size"]
            if size in steps_at:
                coarse, fine = steps_at[size]
                est = args.fixed + sum(steps[:-1]) * coarse + steps[-1] * fine
                time_text = f"{est:.0f} s"
            else:
                time_text = f"(size {size})"
            steps_text = "+".join(str(s) for s in steps)
        means = [statistics.fmean(float(r[m]) for r in sel) for m in MEASURES]
        print(f"{name:<40} {time_text:>9} {steps_text:>10} "
              + " ".join(f"{v:>15.4f}" for v in means))


if __name__ == "__main__":
    main()
