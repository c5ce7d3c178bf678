"""Mask previews: masks over their images with a legend of labels and areas."""

from __future__ import annotations

import colorsys

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from photostyle.engine.masks import PALETTE, MaskSet

PANEL_HEIGHT = 320
UNLABELLED = (255, 0, 128)
#: Display colours of labels outside the palette that have a meaning of their own (the web
#: app's unpainted rest).
NAMED = {"unpainted": (200, 200, 200)}


def label_colour(name: str, index: int) -> tuple[int, int, int]:
    """Display colour of a label: its palette colour, or a distinct hue for label ids."""
    if name in PALETTE:
        return PALETTE[name]
    if name in NAMED:
        return NAMED[name]
    r, g, b = colorsys.hsv_to_rgb((index * 0.618034) % 1.0, 0.75, 0.95)
    return int(r * 255), int(g * 255), int(b * 255)


def _overlay(image: np.ndarray | None, ids: np.ndarray, colours: np.ndarray) -> Image.Image:
    """Label colours blended over the image (or alone); unlabelled pixels hatched."""
    h, w = ids.shape
    lut = np.vstack([colours, np.array([UNLABELLED], np.uint8)])
    coloured = lut[np.where(ids >= 0, ids, len(colours))].astype(np.float32)
    if image is not None:
        base = np.asarray(Image.fromarray((np.clip(image, 0, 1) * 255).astype(np.uint8))
                          .resize((w, h)), np.float32)
        coloured = 0.45 * coloured + 0.55 * base
    hatch = ((np.add.outer(np.arange(h), np.arange(w)) // 3) % 2 == 0) & (ids < 0)
    coloured[hatch] = UNLABELLED
    pil = Image.fromarray(coloured.astype(np.uint8))
    scale = PANEL_HEIGHT / h
    return pil.resize((max(1, round(w * scale)), PANEL_HEIGHT), Image.Resampling.NEAREST)


def render_preview(
    masks: MaskSet, content: np.ndarray | None = None, style: np.ndarray | None = None
) -> Image.Image:
    """A preview image: content and style panels with their masks, and a legend.

    The legend lists each label with its colour, its area in both images, and flags
    orphans (styled from the whole style image) and dropped labels.
    """
    colours = np.array([label_colour(n, i) for i, n in enumerate(masks.labels)],
                       np.uint8).reshape(-1, 3)
    left = _overlay(content, masks.content_ids, colours)
    right = _overlay(style, masks.style_ids, colours)
    font = ImageFont.load_default()
    rows: list[tuple[tuple[int, int, int] | None, str]] = []
    for i, (kind, name, content_share, style_share, why) in enumerate(masks.summary()):
        shares = f"content {content_share:.1%}, style {style_share:.1%}"
        if kind == "dropped":
            rows.append((None, f"{name}: DROPPED ({why})"))
        elif kind == "unlabelled":
            rows.append((UNLABELLED, f"unlabelled (no style loss): {shares}"))
        else:
            flag = "  orphan: styled from the whole style image" if kind == "orphan" else ""
            rows.append((label_colour(name, i), f"{name}: {shares}{flag}"))
    line = 18
    width = max(left.width + right.width + 30, 560)
    height = PANEL_HEIGHT + 40 + line * len(rows) + 10
    sheet = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    draw.text((10, 4), "content mask", fill=(0, 0, 0), font=font)
    draw.text((left.width + 20, 4), "style mask", fill=(0, 0, 0), font=font)
    sheet.paste(left, (10, 20))
    sheet.paste(right, (left.width + 20, 20))
    y = PANEL_HEIGHT + 30
    for colour, text in rows:
        if colour is not None:
            draw.rectangle((10, y + 2, 24, y + 14), fill=colour, outline=(0, 0, 0))
        else:
            draw.line((10, y + 2, 24, y + 14), fill=(200, 0, 0), width=2)
        draw.text((32, y + 2), text, fill=(0, 0, 0), font=font)
        y += line
    return sheet
