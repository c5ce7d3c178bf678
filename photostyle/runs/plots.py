"""Figures drawn from what runs record: the loss curves of a transfer (``--plot``,
``photostyle report``) and the chart of an ablation (``photostyle ablate``,
``scripts/ablation_chart.py``).

Drawn with Pillow alone (no plotting library to install): PNG images meant to be looked at,
with their numbers printed on them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from PIL import Image, ImageDraw, ImageFont

#: Line colours, one per series (RGB).
COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]

#: Loss terms drawn first and thickest.
TOTAL = "total"


def font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """DejaVu Sans at ``size`` px when the system has it, else Pillow's own font at that size."""
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round values (1, 2 or 5 times a power of ten apart) spanning
    ``[lo, hi]``."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    value = first
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _label(value: float, log: bool) -> str:
    if log:
        return f"1e{round(value)}" if abs(value - round(value)) < 1e-9 else ""
    return f"{value:g}"


def line_panel(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int],
               series: Mapping[str, Sequence[float]], colours: Mapping[str, tuple[int, ...]],
               title: str, *, log: bool = True, xlabel: str = "evaluation") -> None:
    """Draw ``series`` (name -> values at x = 1, 2, ...) as lines in ``box`` (left, top,
    right, bottom), with axes, ticks and a title. ``log``: the y axis is log10 (values <= 0
    are left out)."""
    left, top, right, bottom = box
    small = font(12)
    draw.text((left, top), title, fill="black", font=font(14))
    plot = (left + 56, top + 24, right - 8, bottom - 30)
    px0, py0, px1, py1 = plot
    draw.rectangle(plot, outline="black")

    def transform(v: float) -> float | None:
        if not math.isfinite(v):
            return None
        if log:
            return math.log10(v) if v > 0 else None
        return v

    points = {name: [(i + 1, transform(v)) for i, v in enumerate(values)]
              for name, values in series.items()}
    ys = [y for pts in points.values() for _, y in pts if y is not None]
    n = max((len(v) for v in series.values()), default=1)
    if not ys:
        draw.text((px0 + 8, py0 + 8), "nothing to draw", fill="black", font=small)
        return
    lo, hi = min(ys), max(ys)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    pad = (hi - lo) * 0.05
    lo, hi = lo - pad, hi + pad

    def xy(x: float, y: float) -> tuple[float, float]:
        fx = (x - 1) / max(n - 1, 1)
        return px0 + fx * (px1 - px0), py1 - (y - lo) / (hi - lo) * (py1 - py0)

    for tick in nice_ticks(math.ceil(lo) if log else lo, math.floor(hi) if log else hi,
                           6 if not log else max(2, min(8, int(hi - lo) + 1))):
        if not lo <= tick <= hi:
            continue
        _, ty = xy(1, tick)
        draw.line([(px0 - 4, ty), (px0, ty)], fill="black")
        draw.line([(px0 + 1, ty), (px1 - 1, ty)], fill=(232, 232, 232))
        draw.text((left, ty - 7), _label(tick, log), fill="black", font=small)
    for tick in nice_ticks(1, n, 5):
        tx, _ = xy(tick, lo)
        draw.line([(tx, py1), (tx, py1 + 4)], fill="black")
        draw.text((tx - 8, py1 + 6), f"{tick:g}", fill="black", font=small)
    draw.text(((px0 + px1) // 2 - 30, py1 + 16), xlabel, fill="black", font=small)
    for name, pts in points.items():
        line = [xy(x, y) for x, y in pts if y is not None]
        width = 3 if name == TOTAL else 2
        if len(line) > 1:
            draw.line(line, fill=colours[name], width=width)
        elif line:
            x, y = line[0]
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colours[name])


def loss_curves(report: Mapping[str, Any], title: str = "") -> Image.Image:
    """The loss terms of every level of a transfer's report, one panel per level (coarse to
    fine), log scale, with a legend giving each term's first and last value.

    Raises:
        ValueError: the report records no loss history (a preview, or not a transfer's).
    """
    levels = [lv for lv in report.get("levels", []) if lv.get("history")]
    if not levels:
        raise ValueError("the report records no loss history (a preview or an apply "
                         "optimises nothing)")
    names: list[str] = []
    for lv in levels:
        for name in lv["history"]:
            if name not in names:
                names.append(name)
    names.sort(key=lambda k: (k != TOTAL, k))
    colours = {name: COLOURS[i % len(COLOURS)] for i, name in enumerate(names)}
    panel_w, panel_h, margin = 480, 340, 20
    legend_h = 22 * len(names) + 16
    width = margin + len(levels) * (panel_w + margin)
    image = Image.new("RGB", (max(width, 520), 50 + panel_h + legend_h), "white")
    draw = ImageDraw.Draw(image)
    draw.text((margin, 12), title or "loss terms per evaluation (log scale)", fill="black",
              font=font(16))
    for i, lv in enumerate(levels):
        left = margin + i * (panel_w + margin)
        h, w = lv.get("size", ["?", "?"])
        status = lv.get("status", "")
        line_panel(draw, (left, 44, left + panel_w, 44 + panel_h), lv["history"], colours,
                   f"level {lv.get('level', i)}: {w} x {h} px, {lv.get('evaluations', '?')} "
                   f"evaluations, {lv.get('seconds', 0):.1f} s" + (
                       f" ({status})" if status and status != "completed" else ""))
    y = 44 + panel_h + 10
    last = levels[-1]["history"]
    first = levels[0]["history"]
    for name in names:
        draw.rectangle([margin, y + 3, margin + 22, y + 9], fill=colours[name])
        start = first.get(name, [None])[0] if first.get(name) else None
        end = last.get(name, [None])[-1] if last.get(name) else None
        text = name + ("" if start is None or end is None else
                       f": {start:.4g} at the start, {end:.4g} at the end")
        draw.text((margin + 30, y), text, fill="black", font=font(13))
        y += 22
    return image


def bar_chart(variants: Sequence[str], labels: Mapping[str, str],
              measures: Sequence[tuple[str, str, bool]],
              stats: Mapping[str, Mapping[str, tuple[float, float]]],
              reference: Mapping[str, float] | None = None, title: str = "") -> Image.Image:
    """One panel per measure, one bar per variant (mean, with a +- standard error whisker),
    a dashed red line for ``reference`` (e.g. the paper's own results).

    Args:
        variants: bar order.
        labels: a readable name per variant (the legend).
        measures: ``(key, name, lower_is_better)`` per panel.
        stats: ``stats[variant][key] = (mean, standard error)``; a missing key leaves the
            bar out.
        reference: a value per measure key, drawn as a dashed line.
    """
    panel_w, panel_h, margin, top = 300, 260, 40, 70
    width = margin + len(measures) * (panel_w + margin)
    legend_h = 22 * ((len(variants) + 1) // 2) + 20
    image = Image.new("RGB", (width, top + panel_h + 70 + legend_h), "white")
    draw = ImageDraw.Draw(image)
    big, small = font(15), font(12)
    draw.text((margin, 12), title, fill="black", font=big)
    colours = {v: COLOURS[i % len(COLOURS)] for i, v in enumerate(variants)}
    for m, (key, name, lower) in enumerate(measures):
        x0 = margin + m * (panel_w + margin)
        values = {v: stats[v][key] for v in variants if key in stats.get(v, {})}
        ref = (reference or {}).get(key)
        tops = [mean + se for mean, se in values.values()] + ([ref] if ref else [])
        top_value = (max(tops) * 1.1 if tops and max(tops) > 0 else 1.0)
        draw.text((x0, top - 40), name + (" (lower is better)" if lower else
                                          " (higher is better)"), fill="black", font=small)
        base_y = top + panel_h
        draw.line([(x0, base_y), (x0 + panel_w, base_y)], fill="black")
        bar_w = panel_w / (len(variants) + 1)
        for i, variant in enumerate(variants):
            if variant not in values:
                continue
            mean, se = values[variant]
            bx = x0 + bar_w * (i + 0.5)
            y = base_y - panel_h * mean / top_value
            draw.rectangle([bx, y, bx + bar_w * 0.8, base_y], fill=colours[variant])
            cx = bx + bar_w * 0.4
            for v in (mean - se, mean + se):
                vy = base_y - panel_h * v / top_value
                draw.line([(cx - 4, vy), (cx + 4, vy)], fill="black")
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
        draw.rectangle([lx, y, lx + 16, y + 14], fill=colours[variant])
        draw.text((lx + 24, y), labels.get(variant, variant), fill="black", font=big)
    return image


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error (0 for a single value) of ``values`` (at least one)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, 0.0
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n)


def scatter_panel(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int],
                  series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
                  colours: Mapping[str, tuple[int, ...]], title: str, *,
                  xlabel: str = "", ylabel: str = "", log_x: bool = False,
                  diagonal: bool = False, radius: Mapping[str, int] | None = None,
                  lines: Mapping[str, float] | None = None) -> None:
    """Points ``series[name] = (xs, ys)`` in ``box`` with axes, ticks and a title.

    Args:
        log_x: the x axis is log10 (values <= 0 left out).
        diagonal: draw y = x (both axes then share their range).
        radius: the points' radius per series (default 3 px).
        lines: horizontal dashed lines at these y values, labelled with their name.
    """
    left, top, right, bottom = box
    small = font(12)
    draw.text((left, top), title, fill="black", font=font(14))
    px0, py0, px1, py1 = left + 52, top + 24, right - 10, bottom - 34
    draw.rectangle((px0, py0, px1, py1), outline="black")

    def fx(v: float) -> float | None:
        if not math.isfinite(v) or (log_x and v <= 0):
            return None
        return math.log10(v) if log_x else v

    pts: dict[str, list[tuple[float, float]]] = {}
    for n, (xs, ys) in series.items():
        pts[n] = []
        for x, y in zip(xs, ys, strict=True):
            tx = fx(x)
            if tx is not None and math.isfinite(y):
                pts[n].append((tx, y))
    xs_all = [x for p in pts.values() for x, _ in p]
    ys_all = [y for p in pts.values() for _, y in p] + list((lines or {}).values())
    if not xs_all:
        return
    xlo, xhi, ylo, yhi = min(xs_all), max(xs_all), min(ys_all), max(ys_all)
    if diagonal:
        xlo = ylo = min(xlo, ylo)
        xhi = yhi = max(xhi, yhi)
    xpad, ypad = (xhi - xlo) * 0.06 or 0.5, (yhi - ylo) * 0.06 or 0.5
    xlo, xhi, ylo, yhi = xlo - xpad, xhi + xpad, ylo - ypad, yhi + ypad

    def at(x: float, y: float) -> tuple[float, float]:
        return (px0 + (x - xlo) / (xhi - xlo) * (px1 - px0),
                py1 - (y - ylo) / (yhi - ylo) * (py1 - py0))

    for tick in nice_ticks(ylo, yhi, 6):
        _, ty = at(xlo, tick)
        draw.line([(px0 + 1, ty), (px1 - 1, ty)], fill=(232, 232, 232))
        draw.line([(px0 - 4, ty), (px0, ty)], fill="black")
        draw.text((left, ty - 7), f"{tick:g}", fill="black", font=small)
    xticks = (range(math.ceil(xlo), math.floor(xhi) + 1) if log_x
              else nice_ticks(xlo, xhi, 6))
    for tick in xticks:
        tx, _ = at(tick, ylo)
        draw.line([(tx, py1), (tx, py1 + 4)], fill="black")
        text = f"{10 ** tick:g}" if log_x else f"{tick:g}"
        draw.text((tx - 8, py1 + 6), text, fill="black", font=small)
    draw.text(((px0 + px1) // 2 - 4 * len(xlabel), py1 + 19), xlabel, fill="black", font=small)
    if ylabel:
        draw.text((px0 + 6, py0 + 4), ylabel, fill=(90, 90, 90), font=small)
    if diagonal:
        draw.line([at(xlo, xlo), at(xhi, xhi)], fill=(150, 150, 150), width=1)
    for name, y in (lines or {}).items():
        _, ly = at(xlo, y)
        for dash in range(int(px0), int(px1), 10):
            draw.line([(dash, ly), (min(dash + 5, px1), ly)], fill=colours[name], width=2)
        draw.text((px1 - 8 * len(name) - 4, ly - 16), name, fill=colours[name], font=small)
    for name, p in pts.items():
        r = (radius or {}).get(name, 3)
        for x, y in p:
            cx, cy = at(x, y)
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colours[name],
                         outline="black" if r > 4 else None)
