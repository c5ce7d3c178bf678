"""The figures of docs/RESULTS.md that carry its main claims, from runs of evaluate_dpst.py.

    python scripts/results_figures.py --run preview=runs/dpst40-preview \
        --run default=runs/dpst40-default -o docs/images

Each ``--run NAME=FOLDER`` is an ``evaluate_dpst.py --out`` folder (its ``metrics.csv``: per
pair, our result and the paper's, scored with the same measures, and our seconds). Draws

* ``presets_time_style.png``: seconds per pair (log scale) against the style distance, a
  small point per pair and a large one for each run's mean, the paper's results' mean as a
  dashed line;
* ``ours_vs_paper.png``: for every measure, the paper's value on each pair (x) against ours
  (y) for the run named by ``--compare`` (default: ``default``), with the diagonal: below it
  ours is lower.

and prints the means drawn.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from PIL import Image, ImageDraw

from photostyle.runs.ablate import HIGHER_IS_BETTER, MEASURE_NAMES, TABLE_MEASURES
from photostyle.runs.plots import COLOURS, font, mean_se, scatter_panel

#: Measures shown: key, name, lower is better (the ablation's own table measures).
MEASURES = [(m, MEASURE_NAMES[m], m not in HIGHER_IS_BETTER) for m in TABLE_MEASURES]


def read_run(folder: Path) -> dict[str, dict[int, dict[str, float]]]:
    """``rows[method][pair][measure]`` (method ``ours`` or ``paper``; ``seconds`` for ours)."""
    rows: dict[str, dict[int, dict[str, float]]] = {"ours": {}, "paper": {}}
    with (folder / "metrics.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            rows[row["method"]][int(row["pair"])] = {
                k: float(v) for k, v in row.items() if k not in ("pair", "method") and v}
    return rows


def time_style(runs: dict[str, dict], out: Path) -> list[str]:
    """The speed/quality figure; returns its table's lines."""
    image = Image.new("RGB", (900, 560), "white")
    draw = ImageDraw.Draw(image)
    colours = {name: COLOURS[i] for i, name in enumerate(runs)}
    series, lines = {}, []
    for name, rows in runs.items():
        pairs = sorted(rows["ours"])
        xs = [rows["ours"][p]["seconds"] for p in pairs]
        ys = [rows["ours"][p]["style_sw"] for p in pairs]
        series[name] = (xs, ys)
        series[f"{name} (mean)"] = ([mean_se(xs)[0]], [mean_se(ys)[0]])
        colours[f"{name} (mean)"] = colours[name]
        lines.append(f"| {name} | {len(pairs)} | {mean_se(xs)[0]:.2f} | "
                     f"{mean_se(ys)[0]:.3f} ± {mean_se(ys)[1]:.3f} |")
    first = next(iter(runs.values()))
    paper = [first["paper"][p]["style_sw"] for p in sorted(first["paper"])]
    label = "paper's results (mean)"
    colours[label] = (40, 40, 40)
    scatter_panel(draw, (20, 50, 880, 500), series, colours,
                  "style distance against time, one point per pair; large: the mean",
                  xlabel="seconds per pair (log scale), 2 CPU cores",
                  ylabel="style distance (lower: closer to the style)", log_x=True,
                  radius={n: 8 for n in series if n.endswith("(mean)")},
                  lines={label: mean_se(paper)[0]})
    draw.text((20, 12), "The presets on the paper's pairs (hand masks)", fill="black",
              font=font(16))
    x = 20
    for name in runs:
        draw.ellipse([x, 522, x + 12, 534], fill=colours[name])
        draw.text((x + 18, 520), name, fill="black", font=font(13))
        x += 40 + 8 * len(name)
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out)
    lines.append(f"| paper's results | {len(paper)} | | {mean_se(paper)[0]:.3f} ± "
                 f"{mean_se(paper)[1]:.3f} |")
    return ["| run | pairs | seconds per pair | style distance |", "| --- | --- | --- | --- |",
            *lines]


def ours_vs_paper(rows: dict[str, dict], name: str, out: Path) -> list[str]:
    """The per-pair figure; returns its table's lines (mean, pairs where ours is better)."""
    pairs = sorted(set(rows["ours"]) & set(rows["paper"]))
    panel, margin = 330, 16
    image = Image.new("RGB", (margin + len(MEASURES) * (panel + margin), panel + 90), "white")
    draw = ImageDraw.Draw(image)
    draw.text((margin, 12), f"Each pair: the paper's result (x) against ours, {name} (y); "
              "grey: the diagonal", fill="black", font=font(16))
    lines = ["| measure | ours | paper's | pairs where ours is better |",
             "| --- | --- | --- | --- |"]
    for m, (key, title, lower) in enumerate(MEASURES):
        xs = [rows["paper"][p][key] for p in pairs]
        ys = [rows["ours"][p][key] for p in pairs]
        better = sum((y < x) if lower else (y > x) for x, y in zip(xs, ys, strict=True))
        left = margin + m * (panel + margin)
        scatter_panel(draw, (left, 44, left + panel, 44 + panel), {"pairs": (xs, ys)},
                      {"pairs": COLOURS[0]},
                      f"{title}: ours better on {better}/{len(pairs)}",
                      xlabel="paper's", diagonal=True,
                      ylabel=("below the diagonal: ours lower" if lower
                              else "above the diagonal: ours higher"))
        lines.append(f"| {title} | {mean_se(ys)[0]:.3f} | {mean_se(xs)[0]:.3f} | "
                     f"{better}/{len(pairs)} |")
    image.save(out)
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", action="append", default=[], metavar="NAME=FOLDER",
                    help="an evaluate_dpst.py output folder and its name (repeatable)")
    ap.add_argument("--compare", default="default", help="the run drawn against the paper")
    ap.add_argument("-o", "--out", type=Path, default=Path("docs/images"))
    args = ap.parse_args(argv)
    runs = {}
    for item in args.run:
        name, sep, folder = item.partition("=")
        if not sep or not (Path(folder) / "metrics.csv").is_file():
            print(f"--run {item}: expected NAME=FOLDER holding metrics.csv", file=sys.stderr)
            return 2
        runs[name] = read_run(Path(folder))
    if not runs:
        print("give at least one --run", file=sys.stderr)
        return 2
    print("\n".join(time_style(runs, args.out / "presets_time_style.png")))
    compare = args.compare if args.compare in runs else next(iter(runs))
    print()
    print("\n".join(ours_vs_paper(runs[compare], compare, args.out / "ours_vs_paper.png")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
