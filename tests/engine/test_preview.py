"""The masks preview: each label's colour lands on its own pixels, the legend lists them."""

from __future__ import annotations

import numpy as np

from photostyle.engine.masks import PALETTE, load_mask_pair
from photostyle.engine.preview import PANEL_HEIGHT, label_colour, render_preview


def test_preview_paints_each_label_on_its_pixels_and_lists_it() -> None:
    content = np.zeros((40, 60, 3), np.uint8)
    content[:, :30] = PALETTE["blue"]
    content[:, 30:] = PALETTE["green"]
    style = np.zeros((40, 40, 3), np.uint8)
    style[:20] = PALETTE["blue"]
    style[20:] = PALETTE["green"]
    masks = load_mask_pair(content, style, (40, 60), (40, 40))
    sheet = np.asarray(render_preview(masks).convert("RGB"))
    assert sheet.shape[0] > PANEL_HEIGHT + 40  # panels, then a legend row per label
    scale = PANEL_HEIGHT / 40
    y = 20 + PANEL_HEIGHT // 2  # the middle row of the content panel (pasted at 10, 20)
    left, right = 10 + int(10 * scale), 10 + int(50 * scale)
    assert tuple(sheet[y, left]) == label_colour("blue", masks.labels.index("blue"))
    assert tuple(sheet[y, right]) == label_colour("green", masks.labels.index("green"))
    assert label_colour("blue", 0) == PALETTE["blue"]  # a palette label keeps its colour
    assert label_colour("sky-ish", 3) != label_colour("sky-ish", 4)  # others: distinct hues
