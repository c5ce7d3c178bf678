"""Optical flow and warping at the transforms' resolution (OpenCV's DIS flow)."""

from __future__ import annotations

import functools

import cv2
import numpy as np

from photostyle.files.images import fit_long_side

#: Long side at which flow is measured for the flicker measure and keyframe decisions.
MEASURE_SIDE = 480


def _resize(frame: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    """``frame`` at ``size`` ``(h, w)`` (area averaging)."""
    return cv2.resize(frame, (int(size[1]), int(size[0])), interpolation=cv2.INTER_AREA)


def _gray(frame: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    """``frame`` as uint8 grey at ``size`` ``(h, w)``."""
    return cv2.cvtColor(_resize(frame, size), cv2.COLOR_RGB2GRAY)


@functools.lru_cache(maxsize=8)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates ``(x, y)``, each ``(h, w)`` float32 (made once per size)."""
    x, y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return x, y


def _warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``image`` sampled at ``x + flow(x)`` (bilinear, borders replicated)."""
    grid_x, grid_y = _grid(*flow.shape[:2])
    return cv2.remap(image, grid_x + flow[..., 0], grid_y + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def consistent(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """Pixels of the second frame whose flow is trustworthy: ``backward`` (second to
    first) followed by ``forward`` (first to second) comes back to where it started, within
    the tolerance of Sundaram et al. (also used by Ruder et al. for video style transfer);
    pixels whose backward flow leaves the frame are excluded. ``(h, w)`` bool."""
    h, w = backward.shape[:2]
    there = _warp(forward, backward)
    loop = backward + there
    bound = 0.01 * ((backward**2).sum(-1) + (there**2).sum(-1)) + 0.5
    grid_x, grid_y = _grid(h, w)
    inside = ((grid_x + backward[..., 0] >= 0) & (grid_x + backward[..., 0] <= w - 1)
              & (grid_y + backward[..., 1] >= 0) & (grid_y + backward[..., 1] <= h - 1))
    return ((loop**2).sum(-1) <= bound) & inside


class Flow:
    """Dense optical flow between frames (OpenCV's DIS)."""

    def __init__(self, preset: int = cv2.DISOPTICAL_FLOW_PRESET_FAST) -> None:
        self.dis = cv2.DISOpticalFlow_create(preset)  # type: ignore[attr-defined]

    def __call__(self, source: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Flow ``(h, w, 2)`` from ``source`` to ``target`` (grey uint8 ``(h, w)``):
        ``source(x) ~ target(x + flow(x))``."""
        return self.dis.calc(np.ascontiguousarray(source), np.ascontiguousarray(target), None)


def _fit(shape: tuple[int, ...], side: int) -> tuple[int, int]:
    return fit_long_side(int(shape[0]), int(shape[1]), min(side, max(shape[:2])))
