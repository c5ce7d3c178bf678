"""Paired comparison of runs of ``scripts/evaluate_dpst.py`` on the pairs they share, or of
the variants of one ``photostyle ablate`` folder.

Usage::

    python scripts/compare_runs.py runs/dpst40-pre17 runs/s400f3 [runs/s400 ...]
                                   [--sheets runs/compare --dpst ../shared/dpst]
    python scripts/compare_runs.py runs/ablation [--baseline VARIANT]

The first folder is the baseline. For each measure of ``photostyle evaluate`` it prints the
mean of every run over the pairs that all runs have and, for each later run, the mean
paired difference from the baseline with its standard error and on how many of those pairs
it is better and worse (``tradeoff.paired``), so that a change of the defaults is judged
pair by pair, not only on the mean. Given one ablation folder (``results.jsonl``), its
variants are the runs (``published`` among them), the baseline first (``--baseline``,
default: the first variant finished), and the pairs compared are those every variant has
finished, so a comparison can be read while the ablation is still running
(``--variants`` picks some); it prints a row per variant. ``--sheets`` writes one
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

from photostyle.runs.ablate import HIGHER_IS_BETTER
from photostyle.runs.ablate import TABLE_MEASURES as MEASURES
from photostyle.runs.sheets import write_contact_sheet

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
from tradeoff import paired  # noqa: E402  (scripts/ is not a package)


def read_run(folder: Path) -> dict[str, dict[str, Any]]:
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
    return {str(r["pair"]): r for r in rows if r["method"] == "ours"}


def read_ablation(folder: Path, baseline: str | None = None
                  ) -> tuple[list[str], list[dict[str, dict[str, Any]]]]:
    """The variants of an ablation folder (``photostyle ablate --out``) as runs: their names,
    the baseline's first, and for each ``{pair number: row}`` of its finished pairs."""
    from photostyle.runs.ablate import read_results

    by_variant: dict[str, dict[str, dict[str, Any]]] = {}
    for row in read_results(folder):
        if row.get("status") in ("completed", "published"):
            pair = str(row["pair"])
            by_variant.setdefault(row["variant"], {})[pair.removeprefix("in")] = row
    if not by_variant:
        raise SystemExit(f"{folder}: no finished variant in results.jsonl")
    names = sorted(by_variant, key=lambda n: n == "published")  # stable: finish order
    if baseline is not None:
        if baseline not in by_variant:
            raise SystemExit(f"--baseline {baseline}: not a variant of {folder} (variants: "
                             + ", ".join(names) + ")")
        names.remove(baseline)
        names.insert(0, baseline)
    return names, [by_variant[n] for n in names]


def versus(values: dict[str, float], base: dict[str, float], measure: str
           ) -> tuple[float, float, int, int]:
    """``(mean difference values - base, its standard error, pairs better, pairs worse)``
    for one measure (which direction is better depends on the measure)."""
    sign = 1 if measure in HIGHER_IS_BETTER else -1
    diff, se, better, _ = paired(values, base, sign)
    return diff, se, better, paired(base, values, sign)[2]


def mean_seconds(run: dict[str, dict[str, Any]], pairs: list[str]) -> str:
    """A run's mean seconds over ``pairs``, or ``-`` when some have none (published)."""
    seconds = [run[i]["seconds"] for i in pairs]
    return f"{statistics.fmean(float(t) for t in seconds):.1f}" if None not in seconds else "-"


def print_by_variant(names: list[str], runs: list[dict[str, dict[str, Any]]],
                     pairs: list[str]) -> None:
    """A Markdown table, a row per variant: each measure's mean (median) over ``pairs``
    and, after the baseline's row, the mean paired difference from the baseline ± its
    standard error and on how many pairs the variant is better / worse."""
    print("| variant | " + " | ".join(MEASURES) + " | seconds |")
    print("| --- |" + " --- |" * (len(MEASURES) + 1))
    for index, (name, run) in enumerate(zip(names, runs, strict=True)):
        cells = []
        for m in MEASURES:
            values = {i: float(run[i][m]) for i in pairs}
            cell = (f"{statistics.fmean(values.values()):.3f} "
                    f"({statistics.median(values.values()):.3f})")
            if index:
                base = {i: float(runs[0][i][m]) for i in pairs}
                diff, se, better, worse = versus(values, base, m)
                cell += f"; {diff:+.3f} ± {se:.3f}; {better}/{worse}"
            cells.append(cell)
        cells.append(mean_seconds(run, pairs))
        print(f"| {name} | " + " | ".join(cells) + " |")


def _pair_order(name: str) -> tuple[int, str]:
    return (int(name), "") if name.isdigit() else (1 << 30, name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--sheets", type=Path, help="write side-by-side contact sheets here")
    parser.add_argument("--dpst", type=Path, default=REPO.parent / "shared" / "dpst")
    parser.add_argument("--baseline", help="with one ablation folder: the variant the others "
                        "are compared with (default: the first finished)")
    parser.add_argument("--variants", help="with one ablation folder: only these variants "
                        "(comma-separated names; the baseline is always kept)")
    args = parser.parse_args(argv)
    ablation = len(args.folders) == 1 and (args.folders[0] / "results.jsonl").exists()
    if ablation:
        names, runs = read_ablation(args.folders[0], args.baseline)
        if args.variants:
            wanted = {v.strip() for v in args.variants.split(",") if v.strip()}
            unknown = sorted(wanted - set(names))
            if unknown:
                raise SystemExit(f"--variants: {', '.join(unknown)}: not a variant of "
                                 f"{args.folders[0]}")
            kept = [i for i, n in enumerate(names) if i == 0 or n in wanted]
            names, runs = [names[i] for i in kept], [runs[i] for i in kept]
    else:
        if args.baseline or args.variants:
            raise SystemExit("--baseline, --variants: only with one ablation folder")
        runs = [read_run(f) for f in args.folders]
        names = [f.name for f in args.folders]
    pairs = sorted(set.intersection(*(set(r) for r in runs)), key=_pair_order)
    if not pairs:
        print("the runs share no pair")
        return 2
    print(f"{len(pairs)} pairs in common: {', '.join(pairs)}\n")
    if ablation:  # a row per variant: an ablation has more variants than measures
        print_by_variant(names, runs, pairs)
        if args.sheets:
            print("\nsheets: an ablation folder has its own (sheet_{pair}.png)")
        return 0
    print("| measure | " + " | ".join(names) + " |")
    print("| --- |" + " --- |" * len(names))
    for m in MEASURES:
        base = {i: float(runs[0][i][m]) for i in pairs}
        cells = [f"{statistics.fmean(base.values()):.3f}"]
        for run in runs[1:]:
            values = {i: float(run[i][m]) for i in pairs}
            diff, se, better, worse = versus(values, base, m)
            cells.append(f"{statistics.fmean(values.values()):.3f} ({diff:+.3f} ± {se:.3f}; "
                         f"better on {better}, worse on {worse})")
        print(f"| {m} | " + " | ".join(cells) + " |")
    print("| seconds per pair | " + " | ".join(mean_seconds(r, pairs) for r in runs) + " |")
    if args.sheets:
        from photostyle.files.images import load_image

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
