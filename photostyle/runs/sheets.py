"""Contact sheets: labelled tiles side by side, for ablations and --compare."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from photostyle.files.writers import atomic_write

SHEET_HEIGHT = 200


def write_contact_sheet(tiles: Sequence[tuple[str, Any]], path: Path,
                        height: int = SHEET_HEIGHT, per_row: int = 4) -> Path:
    """Labelled images in rows of ``per_row``, each scaled to ``height`` px; written
    atomically as PNG.

    Args:
        tiles: ``(label, image)``; an image is a PIL image or an ``(H, W, 3)`` array in [0, 1].
    """
    from PIL import Image, ImageDraw

    from photostyle.runs.plots import font as sized_font

    ims = [(label, im if isinstance(im, Image.Image) else
            Image.fromarray((np.clip(im, 0, 1) * 255).astype(np.uint8))) for label, im in tiles]
    # labels readable at the sheet's size: 1/20 of a tile's height, 12 px at least
    size = max(12, height // 20)
    font = sized_font(size)
    band = size + 12
    scaled = [(t, im.resize((max(1, round(im.width * height / im.height)), height)))
              for t, im in ims]
    rows = [scaled[i : i + per_row] for i in range(0, len(scaled), per_row)]
    width = max(sum(im.width + 8 for _, im in row) for row in rows) + 8
    sheet = Image.new("RGB", (width, len(rows) * (height + band) + 8), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    y = 8
    for row in rows:
        x = 8
        for text, im in row:
            sheet.paste(im, (x, y))
            draw.text((x, y + height + 5), text[:60], fill=(0, 0, 0), font=font)
            x += im.width + 8
        y += height + band
    with atomic_write(path) as handle:
        sheet.save(handle, format="PNG")
    return path


