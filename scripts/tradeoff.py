"""Time against quality: the table used to choose the default schedule.

Usage::

    python scripts/tradeoff.py runs/sched512 [runs/long320 ...] \\
        [--step 128=0.15 --step 256=0.513 ...] [--fixed 4.3] \\
        [--against long320/iterations=1000]

Reads the ``results.jsonl`` (and the per-run reports) of one or more ``photostyle ablate``
folders whose variants differ in their schedule (``iterations``, ``size``, ``scales``). For
each variant it prints the mean of each measure over the pairs, next to the time that
schedule takes **with the full-depth VGG19 on this machine**: ``fixed + sum over levels of
steps x s/step``, from the seconds per step that ``scripts/bench.py`` measured for a level of
that long side (the ablations may run a shallower network or share the CPU, so their own
timings are not what a user sees). A level whose long side was not measured is timed by
linear interpolation in pixel count between the two nearest measured sides (in proportion
to the pixel count below the smallest); such times are marked ``~``. Only pairs that every
variant has are used.

With ``--against FOLDER/VARIANT`` it also compares every run with that reference pair by
pair: for each measure the mean difference (run minus reference) with its standard error,
and on how many pairs the run is better (lower distance and residual, higher SSIM); where
both runs' last levels have the same size, the same for the best loss of that level (the
objective itself, comparable only at the same size).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from photostyle.runs.ablate import HIGHER_IS_BETTER, measures_in, read_results

# s/step of the full-depth VGG19 on this machine (2 threads) by level long side, from
# scripts/bench.py on its 700x462 content (128, 256, 512: the 3-level 200+150+20 run; 350,
# 700: working size 700; 160, 320: one-thread runs scaled by the two-thread ratio)
MEASURED_STEP = {128: 0.134, 160: 0.258, 256: 0.562, 320: 0.748, 350: 1.015, 512: 2.405,
                 700: 4.287}


def paired(run: dict[str, float], reference: dict[str, float], sign: int
           ) -> tuple[float, float, int, int]:
    """Compare one measure of two runs over the pairs both have.

    Args:
        run, reference: measure by pair name.
        sign: +1 if higher is better, -1 if lower is better.

    Returns:
        ``(mean difference run - reference, its standard error, pairs where the run is
        strictly better, pairs compared)``; the standard error is 0 for a single pair.
    """
    names = sorted(set(run) & set(reference))
    if not names:
        raise ValueError("the two runs share no pair")
    diffs = [run[n] - reference[n] for n in names]
    mean = statistics.fmean(diffs)
    se = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else 0.0
    better = sum(1 for d in diffs if sign * d > 0)
    return mean, se, better, len(diffs)


def last_level(report: dict) -> tuple[tuple[int, ...], float]:
    """Size ``(H, W)`` and best loss of a run's last (finest) level."""
    level = report["levels"][-1]
    return tuple(level["size"]), float(level["best_loss"])


def steps_of(report: dict) -> list[tuple[int, int]]:
    """(long side, evaluations) of each level of a run's report."""
    return [(max(level["size"]), int(level["evaluations"])) for level in report["levels"]]


def step_seconds(side: int, table: dict[int, float]) -> tuple[float, bool]:
    """Seconds per step at a level of long side ``side`` and whether it was interpolated."""
    if side in table:
        return table[side], False
    sides = sorted(table)
    below = [s for s in sides if s < side]
    above = [s for s in sides if s > side]
    if not below or not above:  # outside the table: in proportion to the pixel count
        near = below[-1] if below else above[0]
        return table[near] * (side / near) ** 2, True
    lo, hi = below[-1], above[0]
    frac = (side**2 - lo**2) / (hi**2 - lo**2)
    return table[lo] + frac * (table[hi] - table[lo]), True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--step", action="append", default=[], metavar="SIDE=SECONDS",
                        help="s/step of a level with this long side (bench.py); adds to or "
                             f"replaces the built-in table {MEASURED_STEP}")
    parser.add_argument("--fixed", type=float, default=4.3,
                        help="seconds outside the optimisation (bench.py stages)")
    parser.add_argument("--against", metavar="FOLDER/VARIANT",
                        help="compare every run with this one, pair by pair")
    args = parser.parse_args()
    table = dict(MEASURED_STEP)
    for item in args.step:
        side, _, seconds = item.partition("=")
        table[int(side)] = float(seconds)

    rows = []
    for folder in args.folders:
        for row in read_results(folder):
            row = dict(row, folder=folder.name)
            if row["variant"] != "published":
                report = json.loads((folder / Path(row["image"]).with_suffix(".json"))
                                    .read_text())
                row["steps"] = steps_of(report)
                row["last_size"], row["loss"] = last_level(report)
            rows.append(row)
    runs = {(r["folder"], r["variant"]) for r in rows if r["variant"] != "published"}
    pairs = set.intersection(*({r["pair"] for r in rows if (r["folder"], r["variant"]) == run}
                               for run in runs))
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        if row["pair"] in pairs:
            groups.setdefault((row["folder"], row["variant"]), []).append(row)
    print(f"{len(pairs)} pairs: {', '.join(sorted(pairs))}")
    measures = measures_in([r for sel in groups.values() for r in sel])
    print(f"{'run':<40} {'est. time':>9} {'steps':>10} " + " ".join(f"{m:>15}" for m in measures))
    seen_published = False
    for (folder, variant), sel in sorted(groups.items(), key=lambda kv: kv[0]):
        if variant == "published":
            if seen_published:
                continue
            seen_published = True
            name, time_text, steps_text = "published (paper)", "-", "2x1000"
        else:
            name = f"{folder}/{variant}"
            levels = sel[0]["steps"]
            est, guessed = args.fixed, False
            for side, steps in levels:
                seconds, interpolated = step_seconds(side, table)
                est += steps * seconds
                guessed |= interpolated
            time_text = f"{'~' if guessed else ''}{est:.0f} s"
            steps_text = "+".join(str(steps) for _, steps in levels)
        means = [statistics.fmean(float(r[m]) for r in sel) for m in measures]
        print(f"{name:<40} {time_text:>9} {steps_text:>10} "
              + " ".join(f"{v:>15.4f}" for v in means))
    if args.against:
        compare(groups, args.against, measures)


def compare(groups: dict[tuple[str, str], list[dict]], against: str,
            measures: tuple[str, ...]) -> None:
    """Print each run's paired differences from the reference run ``FOLDER/VARIANT``."""
    folder, _, variant = against.partition("/")
    if (folder, variant) not in groups:
        known = ", ".join(f"{f}/{v}" for f, v in sorted(groups) if v != "published")
        raise SystemExit(f"--against {against}: no such run; runs are {known}")
    ref = {r["pair"]: r for r in groups[(folder, variant)]}
    print(f"\npaired against {against}: mean difference (run - reference) +- standard "
          "error, [pairs where the run is better / pairs]")
    print(f"{'run':<40} " + " ".join(f"{m:>24}" for m in (*measures, "loss")))
    for (f, v), sel in sorted(groups.items()):
        if v == "published" or (f, v) == (folder, variant):
            continue
        run = {r["pair"]: r for r in sel}
        cells = []
        for m in (*measures, "loss"):
            if m == "loss" and any(run[p]["last_size"] != ref[p]["last_size"] for p in run):
                cells.append(f"{'(other size)':>24}")
                continue
            mean, se, better, n = paired({p: float(r[m]) for p, r in run.items()},
                                         {p: float(r[m]) for p, r in ref.items()},
                                         1 if m in HIGHER_IS_BETTER else -1)
            cells.append(f"{mean:>+9.4f} +-{se:.4f} [{better}/{n}]")
        print(f"{f + '/' + v:<40} " + " ".join(cells))


if __name__ == "__main__":
    main()
