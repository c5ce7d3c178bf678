"""Paired comparison of runs of ``scripts/evaluate_dpst.py`` on the pairs they share.

Usage::

    python scripts/compare_runs.py runs/dpst40-pre17 runs/s400f3 [runs/s400 ...]
                                   [--sheets runs/compare --dpst ../shared/dpst]

The first folder is the baseline. For each measure of ``photostyle evaluate`` it prints the
mean of every run over the pairs that all runs have and, for each later run, the mean
paired difference from the baseline with its standard error and on how many of those pairs
it is better and worse (``tradeoff.paired``), so that a change of the defaults is judged
pair by pair, not only on the mean. ``--sheets`` writes one
contact sheet per pair (content, style, the paper's result, then each run's output) to look
at the runs side by side.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from photostyle.ablate import HIGHER_IS_BETTER, write_contact_sheet
from photostyle.ablate import TABLE_MEASURES as MEASURES

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
from tradeoff import paired  # noqa: E402  (scripts/ is not a package)


def read_run(folder: Path) -> dict[int, dict[str, Any]]:
    """``{pair: row}`` of the ``ours`` rows in ``folder/metrics.json``, or of a run still in
    progress, in ``folder/metrics.partial.jsonl``."""
    whole, partial = folder / "metrics.json", folder / "metrics.partial.jsonl"
    if whole.exists():
        rows = json.loads(whole.read_text())["rows"]
    elif partial.exists():
        rows = [json.loads(line) for line in partial.read_text().splitlines() if line.strip()]
    else:
        raise SystemExit(f"{folder}: no metrics.json or metrics.partial.jsonl "
                         "(not a folder of scripts/evaluate_dpst.py)")
    return {int(r["pair"]): r for r in rows if r["method"] == "ours"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--sheets", type=Path, help="write side-by-side contact sheets here")
    parser.add_argument("--dpst", type=Path, default=REPO.parent / "shared" / "dpst")
    args = parser.parse_args(argv)
    runs = [read_run(f) for f in args.folders]
    pairs = sorted(set.intersection(*(set(r) for r in runs)))
    if not pairs:
        print("the runs share no pair")
        return 2
    names = [f.name for f in args.folders]
    print(f"{len(pairs)} pairs in common: {', '.join(map(str, pairs))}\n")
    print("| measure | " + " | ".join(names) + " |")
    print("| --- |" + " --- |" * len(names))
    for m in MEASURES:
        sign = 1 if m in HIGHER_IS_BETTER else -1
        base = {str(i): float(runs[0][i][m]) for i in pairs}
        cells = [f"{statistics.fmean(base.values()):.3f}"]
        for run in runs[1:]:
            values = {str(i): float(run[i][m]) for i in pairs}
            diff, se, better, _ = paired(values, base, sign)
            worse = paired(base, values, sign)[2]
            cells.append(f"{statistics.fmean(values.values()):.3f} ({diff:+.3f} ± {se:.3f}; "
                         f"better on {better}, worse on {worse})")
        print(f"| {m} | " + " | ".join(cells) + " |")
    seconds = [statistics.fmean(float(r[i]["seconds"]) for i in pairs) for r in runs]
    print("| seconds per pair | " + " | ".join(f"{s:.1f}" for s in seconds) + " |")
    if args.sheets:
        from photostyle.io import load_image

        args.sheets.mkdir(parents=True, exist_ok=True)
        for i in pairs:  # each tile is scaled to the sheet's height, whatever its size
            tiles = [("content", load_image(args.dpst / "input" / f"in{i}.png")),
                     ("style", load_image(args.dpst / "style" / f"tar{i}.png")),
                     ("paper", load_image(args.dpst / "results" / f"best{i}_t_1000.png"))]
            tiles += [(name, load_image(folder / f"out{i}.png"))
                      for name, folder in zip(names, args.folders, strict=True)]
            write_contact_sheet(tiles, args.sheets / f"compare{i}.png", height=240)
        print(f"\nsheets: {args.sheets}/compare{{i}}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
