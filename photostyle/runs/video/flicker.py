"""The video measures: flicker along the content's flow, and each frame's look against the style."""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from photostyle.runs.video.flow import MEASURE_SIDE, Flow, _fit, _warp, consistent


class FlickerMeter:
    """The flicker measure, accumulated frame by frame (see the module's docstring).

    Feed each content frame and its output frame in order; :meth:`ratio` is the output's
    mean warped difference over the input's (1.0: no flicker added).

    A look that raises local contrast by a factor raises every difference by it, between
    frames as within them, flicker or not. So the meter also measures the look's
    **contrast gain** (the mean absolute difference between neighbouring pixels of the
    output over the input's) and reports :meth:`relative`, the ratio divided by it: the
    change between frames in units of the clip's own detail (1.0: none added).
    """

    def __init__(self) -> None:
        self.flow: Flow | None = None
        self.previous: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.output_sum = self.input_sum = 0.0
        self.pixels = 0
        self.per_frame: list[float] = []
        self.detail = [0.0, 0.0]  # neighbour differences of the inputs, of the outputs

    def add(self, content: np.ndarray, output: np.ndarray) -> None:
        """One frame: ``content`` and ``output`` ``(H, W, 3)`` uint8."""
        h, w = _fit(content.shape, MEASURE_SIDE)
        if self.flow is None:
            self.flow = Flow(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        c = cv2.resize(content, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
        o = cv2.resize(output, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
        gray = cv2.cvtColor(c.astype(np.uint8), cv2.COLOR_RGB2GRAY)
        for i, image in enumerate((c, o)):
            self.detail[i] += float(np.abs(np.diff(image, axis=0)).mean()
                                    + np.abs(np.diff(image, axis=1)).mean())
        if self.previous is not None:
            prev_c, prev_o, prev_gray = self.previous
            backward = self.flow(gray, prev_gray)
            forward = self.flow(prev_gray, gray)
            ok = consistent(forward, backward)
            n = int(ok.sum())
            if n:
                d_in = float(np.abs(c - _warp(prev_c, backward))[ok].mean())
                d_out = float(np.abs(o - _warp(prev_o, backward))[ok].mean())
                self.input_sum += d_in * n
                self.output_sum += d_out * n
                self.pixels += n
                self.per_frame.append(d_out / max(d_in, 1e-6))
        self.previous = (c, o, gray)

    def ratio(self) -> float:
        """Output flicker over input flicker (``nan`` before two frames)."""
        if self.pixels == 0:
            return math.nan
        return self.output_sum / max(self.input_sum, 1e-9)

    def gain(self) -> float:
        """The look's contrast gain: output detail over input detail."""
        return self.detail[1] / self.detail[0] if self.detail[0] > 0 else math.nan

    def relative(self) -> float:
        """The flicker ratio per unit of contrast gain (1.0: no flicker added)."""
        return self.ratio() / self.gain() if self.gain() > 0 else math.nan

    def summary(self) -> dict[str, Any]:
        return {"ratio": _round(self.ratio()), "contrast_gain": _round(self.gain()),
                "relative": _round(self.relative()),
                "output_difference": _round(self.output_sum / max(self.pixels, 1)),
                "input_difference": _round(self.input_sum / max(self.pixels, 1))}


def _round(value: float, digits: int = 4) -> float | None:
    return None if not math.isfinite(value) else round(value, digits)


#: Long side at which a frame's colour distance to the style is measured.
LOOK_SIDE = 128


def look_quantiles(image: np.ndarray) -> np.ndarray:
    """The sliced-Wasserstein quantiles of an image's CIELAB colours at :data:`LOOK_SIDE`
    (``image``: ``(H, W, 3)`` uint8 or float in [0, 1])."""
    from photostyle.engine.metrics import sliced_quantiles, to_lab

    h, w = _fit(image.shape, LOOK_SIDE)
    small = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
    if image.dtype == np.uint8:
        small /= 255
    return sliced_quantiles(to_lab(small).reshape(-1, 3))


def look_distance(frame: np.ndarray, style: np.ndarray) -> float:
    """A frame's colour distance to the style: sliced Wasserstein in CIELAB between the
    whole frame and the whole style (``style``: its :func:`look_quantiles`)."""
    return float(np.abs(look_quantiles(frame) - style).mean())
