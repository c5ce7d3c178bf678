"""A table and a chart of an ``photostyle ablate`` run: each measure's mean per variant, over
the pairs that every variant finished (a partial run is summarised on the pairs it has).

    python scripts/ablation_chart.py runs/ablate32-300 -o docs/images/ablation.png

Prints a Markdown table (mean ± standard error per variant, and how many pairs each variant
beats the first one on) and draws one panel per measure, one bar per variant, the paper's
own results (variant ``published``, when the pairs have them) as a dashed line.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import defaultdict
from pathlib import Path

#: Measures shown, with their label and whether lower is better.
MEASURES = [("style_sw", "style distance (SW)", True),
            ("style_frechet", "style Fréchet", True),
            ("structure_ssim", "gradient SSIM", False),
            ("affine_residual", "local affine residual", True),
            ("flat_paint", "flat-region paint", True)]


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


def mean_se(values: list[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, 0.0
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n)


def label(variant: str) -> str:
    """``masks=auto__matting_weight=0`` -> ``auto, matting off``."""
    if variant == "published":
        return "paper's results"
    parts = dict(p.split("=", 1) for p in variant.split("__") if "=" in p)
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


def chart(order: list[str], rows: dict, pairs: list[str], out: Path) -> None:
    from PIL import Image, ImageDraw, ImageFont

    variants = [v for v in order if v != "published"]
    colours = [(66, 110, 180), (140, 170, 220), (200, 110, 60), (235, 175, 130),
               (110, 110, 110), (185, 185, 185), (90, 160, 90), (160, 210, 160)]
    panel_w, panel_h, margin, top = 300, 260, 40, 70
    width = margin + len(MEASURES) * (panel_w + margin)
    legend_h = 22 * ((len(variants) + 1) // 2) + 20
    image = Image.new("RGB", (width, top + panel_h + 70 + legend_h), "white")
    draw = ImageDraw.Draw(image)
    try:
        font = ImageFont.truetype("DejaVuSans.ttf", 15)
        small = ImageFont.truetype("DejaVuSans.ttf", 12)
    except OSError:
        font = small = ImageFont.load_default()
    draw.text((margin, 12), f"Mean over {len(pairs)} pairs (bars: ± standard error); "
              "dashed: the paper's results", fill="black", font=font)
    for m, (key, name, lower) in enumerate(MEASURES):
        x0 = margin + m * (panel_w + margin)
        stats = [mean_se([rows[v][p][key] for p in pairs]) for v in variants]
        ref = (mean_se([rows["published"][p][key] for p in pairs])[0]
               if "published" in rows and all(key in rows["published"].get(p, {})
                                               for p in pairs) else None)
        top_value = max([s[0] + s[1] for s in stats] + ([ref] if ref else [])) * 1.1 or 1.0
        draw.text((x0, top - 40), name + (" (lower is better)" if lower else
                                          " (higher is better)"), fill="black", font=small)
        base_y = top + panel_h
        draw.line([(x0, base_y), (x0 + panel_w, base_y)], fill="black")
        bar_w = panel_w / (len(variants) + 1)
        for i, (mean, se) in enumerate(stats):
            bx = x0 + bar_w * (i + 0.5)
            y = base_y - panel_h * mean / top_value
            draw.rectangle([bx, y, bx + bar_w * 0.8, base_y], fill=colours[i % len(colours)])
            cx = bx + bar_w * 0.4
            for v in (mean - se, mean + se):
                draw.line([(cx - 4, base_y - panel_h * v / top_value),
                           (cx + 4, base_y - panel_h * v / top_value)], fill="black")
            draw.line([(cx, base_y - panel_h * (mean - se) / top_value),
                       (cx, base_y - panel_h * (mean + se) / top_value)], fill="black")
            draw.text((bx, y - 16), f"{mean:.2f}", fill="black", font=small)
        if ref is not None:
            y = base_y - panel_h * ref / top_value
            for xs in range(int(x0), int(x0 + panel_w), 10):
                draw.line([(xs, y), (xs + 5, y)], fill=(200, 0, 0), width=2)
            draw.text((x0 + panel_w - 50, y - 16), f"{ref:.2f}", fill=(200, 0, 0), font=small)
    ly = top + panel_h + 40
    for i, variant in enumerate(variants):
        lx = margin + (i % 2) * 420
        y = ly + 22 * (i // 2)
        draw.rectangle([lx, y, lx + 16, y + 14], fill=colours[i % len(colours)])
        draw.text((lx + 24, y), label(variant), fill="black", font=font)
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
        chart(order, rows, pairs, args.output)
        print(f"\nchart: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
