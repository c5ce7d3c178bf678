"""Markdown table: one ablation variant beside the published results, per pair and overall.

Usage::

    python scripts/published_table.py runs/dpst40-defaults [--variant default]
    python scripts/published_table.py runs/dpst40      # from scripts/evaluate_dpst.py

Reads ``results.jsonl`` of a ``photostyle ablate --pairs`` folder (or the ``metrics.json`` of
``scripts/evaluate_dpst.py``, whose rows are ``ours`` and ``paper``) whose pairs have published
results (variant ``published``, e.g. ``../shared/dpst/results/best{i}_t_1000.png``) and
prints, for the pairs that have both, each measure of ``photostyle evaluate`` for the variant
and for the published result, then means, medians and on how many pairs the variant is
better (style distances and residual: lower; gradient SSIM: higher).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from photostyle.runs.ablate import HIGHER_IS_BETTER, measures_in, read_results

TITLES = {"style_sw": "SW", "style_frechet": "Fréchet", "structure_ssim": "gradient SSIM",
          "affine_residual": "local affine residual", "flat_paint": "flat-region paint"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--variant", default="default")
    args = parser.parse_args()
    rows: dict[tuple[str, str], dict] = {}
    if (args.folder / "results.jsonl").exists():
        for row in read_results(args.folder):
            rows[(row["pair"], row["variant"])] = row
    else:  # evaluate_dpst.py
        for row in json.loads((args.folder / "metrics.json").read_text())["rows"]:
            variant = args.variant if row["method"] == "ours" else "published"
            rows[(f"in{row['pair']}", variant)] = row
    pairs = sorted({p for p, v in rows if v == args.variant and (p, "published") in rows},
                   key=lambda p: int(p[2:]) if p[2:].isdigit() else 10**9)
    if not pairs:
        raise SystemExit(f"{args.folder}: no pair has both {args.variant!r} and 'published'")
    measures = measures_in([rows[(p, v)] for p in pairs for v in (args.variant, "published")])

    def cells(row: dict) -> str:
        return " / ".join(f"{row[m]:.3f}" if m != "style_sw" else f"{row[m]:.2f}"
                          for m in measures)

    names = " / ".join(TITLES[m] for m in measures)
    print(f"| pair | ours: {names} | published: {names} | our time |")
    print("| --- | --- | --- | --- |")
    for p in pairs:
        ours, pub = rows[(p, args.variant)], rows[(p, "published")]
        seconds = f"{ours['seconds']:.0f} s" if ours.get("seconds") is not None else "-"
        print(f"| {p[2:]} | {cells(ours)} | {cells(pub)} | {seconds} |")
    print()
    print(f"| over {len(pairs)} pairs | " + " | ".join(TITLES[m] for m in measures) + " |")
    print("| --- |" + " --- |" * len(measures))
    for who, variant in (("ours", args.variant), ("published", "published")):
        for stat, fn in (("mean", statistics.fmean), ("median", statistics.median)):
            values = [fn([rows[(p, variant)][m] for p in pairs]) for m in measures]
            print(f"| {who} ({stat}) | " + " | ".join(f"{v:.3f}" for v in values) + " |")
    wins = []
    for m in measures:
        sign = -1 if m in HIGHER_IS_BETTER else 1
        n = sum(sign * rows[(p, args.variant)][m] < sign * rows[(p, "published")][m]
                for p in pairs)
        wins.append(f"{TITLES[m]} {n}/{len(pairs)}")
    print(f"\npairs where ours is better: {', '.join(wins)}")


if __name__ == "__main__":
    main()
