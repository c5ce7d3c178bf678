"""A table and a chart of an ``photostyle ablate`` run: each measure's mean per variant, over
the pairs that every variant finished (a partial run is summarised on the pairs it has).

    python scripts/ablation_chart.py runs/ablate32-300 -o docs/images/ablation.png

Prints a Markdown table (mean ± standard error per variant, and how many pairs each variant
beats the first one on) and draws one panel per measure, one bar per variant, the paper's
own results (variant ``published``, when the pairs have them) as a dashed line.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

from photostyle.runs.ablate import HIGHER_IS_BETTER, MEASURE_NAMES, TABLE_MEASURES
from photostyle.runs.plots import mean_se

#: Measures shown: key, name, lower is better (the ablation's own table measures).
MEASURES = [(m, MEASURE_NAMES[m], m not in HIGHER_IS_BETTER) for m in TABLE_MEASURES]


def read(folder: Path) -> tuple[list[str], dict[str, dict[str, dict[str, float]]]]:
    """Variants in file order, and ``rows[variant][pair][measure]``, from the run's
    ``results.jsonl`` (written as it goes, so a run still going can be summarised)."""
    import json

    rows: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
    order: list[str] = []
    for line in (folder / "results.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row.get("status", "published") not in ("completed", "published"):
            continue
        variant = row["variant"]
        if variant not in order:
            order.append(variant)
        rows[variant][row["pair"]] = {m: float(row[m]) for m, _, _ in MEASURES
                                      if row.get(m) not in (None, "")}
    return order, rows


def label(variant: str) -> str:
    """``masks=auto__matting_weight=0`` -> ``auto, matting off``; a variant of other
    settings keeps its own name (``iterations=80+20``)."""
    if variant == "published":
        return "paper's results"
    parts = dict(p.split("=", 1) for p in variant.split("__") if "=" in p)
    if "masks" not in parts:
        return variant.replace("__", ", ")
    masks = {"manual": "hand masks", "auto": "automatic", "none": "no masks"}.get(
        parts.get("masks", ""), parts.get("masks", "?"))
    matting = parts.get("matting_weight")
    if matting is None:
        return masks
    return f"{masks}, matting {'off' if float(matting) == 0 else 'on'}"


def table(order: list[str], rows: dict, pairs: list[str]) -> str:
    first = next(v for v in order if v != "published")
    lines = ["| variant | " + " | ".join(name for _, name, _ in MEASURES) + " |",
             "| --- |" + " --- |" * len(MEASURES)]
    for variant in order:
        cells = []
        for key, _, lower in MEASURES:
            values = [rows[variant][p][key] for p in pairs if key in rows[variant][p]]
            if not values:
                cells.append("")
                continue
            mean, se = mean_se(values)
            cell = f"{mean:.3f} ± {se:.3f}"
            if variant != first:
                base = [rows[first][p][key] for p in pairs]
                better = sum((v < b) if lower else (v > b) for v, b in zip(values, base,
                                                                          strict=True))
                cell += f" ({better}/{len(values)})"
            cells.append(cell)
        lines.append(f"| {label(variant)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def chart(folder: Path, pairs: list[str], out: Path) -> None:
    """The ablation's own chart (:func:`photostyle.runs.ablate.chart`) over ``pairs``, with
    this script's variant names."""
    from photostyle.runs.ablate import chart as ablation_chart
    from photostyle.runs.ablate import read_results

    image = ablation_chart([r for r in read_results(folder) if r.get("pair") in pairs], label)
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, help="the ablation's --out folder")
    ap.add_argument("-o", "--output", type=Path, help="the chart (PNG)")
    args = ap.parse_args(argv)
    order, rows = read(args.folder)
    variants = [v for v in order if v != "published"]
    if not variants:
        print(f"{args.folder}: no finished variant", file=sys.stderr)
        return 2
    pairs = sorted(set.intersection(*(set(rows[v]) for v in order)),
                   key=lambda p: int("".join(c for c in p if c.isdigit()) or 0))
    print(f"{len(pairs)} pairs finished by every variant: {', '.join(pairs)}\n")
    print(table(order, rows, pairs))
    if args.output:
        chart(args.folder, pairs, args.output)
        print(f"\nchart: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
