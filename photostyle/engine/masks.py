"""Semantic masks: reading mask files, aligning labels between content and style, and the
per-resolution soft masks the augmented style loss uses.

Two file kinds are read (detected automatically):

* **colour-coded** masks in the paper's palette (:data:`PALETTE`). Anti-aliased edges are
  common: each pixel takes the nearest palette colour if no channel differs by more than
  ``tolerance`` levels; other pixels are *unlabelled* and take no part in the style loss.
  Grayscale files whose values cluster at black, grey and white are read the same way.
* **label maps**: single-channel 8- or 16-bit images of integer ids (few distinct values,
  ids meaning the same region in both files).

Masks are kept as integer label maps (``-1`` = unlabelled) at their image's resolution and
turned into soft one-hot masks ``(L, h, w)`` in [0, 1] at any size by area averaging, which
is soft at region borders and lands each label on exactly the pixels it covers.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from photostyle.errors import InputError

log = logging.getLogger(__name__)

#: The Deep Photo Style Transfer colour code.
PALETTE: dict[str, tuple[int, int, int]] = {
    "blue": (0, 0, 255),
    "green": (0, 255, 0),
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "red": (255, 0, 0),
    "yellow": (255, 255, 0),
    "grey": (128, 128, 128),
    "lightblue": (0, 255, 255),
    "purple": (255, 0, 255),
}
_PALETTE_NAMES = list(PALETTE)
_PALETTE_RGB = np.array([PALETTE[n] for n in _PALETTE_NAMES], dtype=np.int16)
_GREY_LEVELS = (0, 128, 255)
#: Relative size difference up to which a mask is resized to its image (with a warning).
SIZE_SLACK = 0.02
#: Aspect ratios differing by more than this are refused.
ASPECT_SLACK = 0.02
MAX_LABEL_IDS = 256


@dataclass
class LabelMap:
    """An integer label map read from a mask file.

    Attributes:
        ids: ``(H, W)`` int32, index into ``names``; ``-1`` for unlabelled pixels.
        names: label names (palette colour names, or ``"id:N"`` for label maps).
        kind: ``"color"`` or ``"labels"``.
        source: file name or description, for messages.
        off_palette: share of pixels that were not exactly a palette colour (colour kind).
    """

    ids: np.ndarray
    names: list[str]
    kind: str
    source: str
    off_palette: float = 0.0

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.ids.shape[0]), int(self.ids.shape[1]))

    def areas(self) -> dict[str, float]:
        """Share of the image's pixels each label covers."""
        counts = np.bincount(self.ids[self.ids >= 0].ravel(), minlength=len(self.names))
        total = self.ids.size
        return {name: float(counts[i]) / total for i, name in enumerate(self.names)}


def _is_label_map(values: np.ndarray, tolerance: int) -> bool:
    """Decide whether a single-channel 8-bit image is a label map (vs. a grey colour mask).

    A grayscale colour mask has its values clustered near black, grey and white, and each
    cluster has one dominant value (the others are anti-aliasing). A label map has small
    integer ids, several of which can sit near the same grey level, each covering a large
    area, or values far from every grey level.
    """
    distinct, counts = np.unique(values, return_counts=True)
    if len(distinct) > 64:
        return False  # an anti-aliased grayscale drawing, not a few integer ids
    levels = np.array(_GREY_LEVELS)
    nearest = np.abs(distinct[:, None].astype(int) - levels[None]).argmin(axis=1)
    far = np.abs(distinct.astype(int) - levels[nearest]) > tolerance
    if far.any():
        return True
    if distinct.max() < 255 - tolerance:
        return True  # no white at all: small ids such as 0, 1, 2
    large = counts > 0.05 * values.size
    return any(int(large[nearest == k].sum()) > 1 for k in range(len(levels)))


#: A colour mask's pixels are palette colours, give or take anti-aliasing and JPEG noise:
#: this many levels per channel. On the 80 hand-made masks of the paper's data at least 86 %
#: of pixels are that close (84 % after JPEG at quality 75); on its 80 photos the median is
#: 4 % and 95 % of them stay under 55 %.
PHOTO_LEVELS = 12
#: Under this share of near-palette pixels a "mask" is refused as a photo ...
PHOTO_REFUSE = 0.5
#: ... and under this one it is used with a warning.
PHOTO_WARN = 0.8


def _check_mask_like(near_fraction: float, source: str) -> None:
    """Refuse a photo given as a colour mask (``near_fraction``: share of pixels within
    :data:`PHOTO_LEVELS` of a palette colour)."""
    if near_fraction < PHOTO_REFUSE:
        raise InputError(
            f"{source}: only {near_fraction:.0%} of its pixels are palette colours; is this a "
            "photo rather than a mask? (masks use the colours listed under 'Masks' in the "
            "README, or integer label maps)"
        )
    if near_fraction < PHOTO_WARN:
        log.warning("%s: only %.0f%% of its pixels are palette colours; check that it is a "
                    "mask (photostyle masks --content-mask ... shows what it reads)",
                    source, 100 * near_fraction)


def parse_mask_array(
    array: np.ndarray, *, tolerance: int = 48, source: str = "mask", kind: str = "auto"
) -> LabelMap:
    """Turn a mask array into a :class:`LabelMap`.

    Args:
        array: ``(H, W)`` integer (label map, or grayscale colour mask) or ``(H, W, 3|4)``
            uint8 colour-coded mask.
        tolerance: largest per-channel distance to a palette colour (colour kind).
        source: name used in messages.
        kind: ``"auto"``, ``"color"`` or ``"labels"``.

    Raises:
        InputError: no recognisable label, or too many ids.
    """
    arr = np.asarray(array)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        if kind == "auto":
            is_labels = arr.dtype != np.uint8 or _is_label_map(arr, tolerance)
            kind = "labels" if is_labels else "color"
        if kind == "color":
            grey = arr.astype(np.float64)
            if arr.dtype != np.uint8:
                grey = grey * (255.0 / max(float(grey.max()), 1.0))
            arr = np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
        else:
            if np.issubdtype(arr.dtype, np.floating):
                raise InputError(f"{source}: a label map must hold integers, not floats")
            distinct = np.unique(arr)
            if len(distinct) > MAX_LABEL_IDS:
                raise InputError(
                    f"{source}: {len(distinct)} distinct values is too many for a label map "
                    f"(at most {MAX_LABEL_IDS}); is this a photo rather than a mask?"
                )
            ids = np.searchsorted(distinct, arr).astype(np.int32)
            return LabelMap(ids, [f"id:{int(v)}" for v in distinct], "labels", source)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise InputError(f"{source}: expected a colour or single-channel mask, got shape "
                         f"{arr.shape}")
    if kind == "labels":
        raise InputError(f"{source}: a label map must be a single-channel image")
    rgb = arr[..., :3].astype(np.int16)
    if arr.dtype == np.uint16:
        rgb = (arr[..., :3] // 257).astype(np.int16)
    dist = np.abs(rgb[:, :, None, :] - _PALETTE_RGB[None, None]).max(axis=3)  # (H, W, P)
    nearest = dist.argmin(axis=2)
    best = np.take_along_axis(dist, nearest[..., None], axis=2)[..., 0]
    ids_full = np.where(best <= tolerance, nearest, -1).astype(np.int32)
    off = float((best > 0).mean())
    present = [p for p in range(len(_PALETTE_NAMES)) if (ids_full == p).any()]
    if not present:
        raise InputError(
            f"{source}: no pixel is within {tolerance} levels of a palette colour "
            f"({', '.join(_PALETTE_NAMES)}); is this a mask?"
        )
    _check_mask_like(float((best <= PHOTO_LEVELS).mean()), source)
    remap = np.full(len(_PALETTE_NAMES) + 1, -1, dtype=np.int32)
    for new, old in enumerate(present):
        remap[old] = new
    ids = remap[ids_full]  # -1 indexes the last entry, which is -1
    return LabelMap(ids, [_PALETTE_NAMES[p] for p in present], "color", source, off)


def read_mask(
    path: str | os.PathLike,
    *,
    tolerance: int = 48,
    max_pixels: int = 150_000_000,
    kind: str = "auto",
) -> LabelMap:
    """Read a mask file (colour-coded or label map); see :func:`parse_mask_array`."""
    from photostyle.files.images import open_image

    image = open_image(path, max_pixels=max_pixels, what="mask")
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        array = np.asarray(image).astype(np.int64)
    elif image.mode in ("L", "1"):
        array = np.asarray(image.convert("L"))
    elif image.mode == "F":
        raise InputError(f"mask {path}: floating-point images are not masks")
    else:
        array = np.asarray(image.convert("RGB"))
    return parse_mask_array(array, tolerance=tolerance, source=str(path), kind=kind)


def fit_to_image(labels: LabelMap, image_shape: tuple[int, int], what: str) -> LabelMap:
    """Resize a label map to its image's size when it is off by a little.

    Raises:
        InputError: if the aspect ratios clearly differ (a mask of another image).
    """
    mh, mw = labels.shape
    ih, iw = image_shape
    if (mh, mw) == (ih, iw):
        return labels
    aspect_m, aspect_i = mw / mh, iw / ih
    if abs(aspect_m / aspect_i - 1.0) > ASPECT_SLACK and (abs(mh - ih) > 2 or abs(mw - iw) > 2):
        raise InputError(
            f"{what} {labels.source}: mask is {mw}x{mh} but its image is {iw}x{ih} (aspect "
            f"{aspect_m:.3f} vs {aspect_i:.3f}); is it the mask of another image?"
        )
    if abs(mh - ih) > 2 or abs(mw - iw) > 2:
        log.warning("%s %s: mask %dx%d resized to its image's %dx%d", what, labels.source,
                    mw, mh, iw, ih)
    else:
        log.warning("%s %s: mask %dx%d is a few pixels off its image (%dx%d); resized",
                    what, labels.source, mw, mh, iw, ih)
    rows = np.minimum((np.arange(ih) + 0.5) * mh / ih, mh - 1).astype(np.int64)
    cols = np.minimum((np.arange(iw) + 0.5) * mw / iw, mw - 1).astype(np.int64)
    ids = labels.ids[rows[:, None], cols[None, :]]
    return LabelMap(ids, labels.names, labels.kind, labels.source, labels.off_palette)


@dataclass
class MaskSet:
    """Labels shared by content and style, with their masks in both images.

    Attributes:
        labels: label names, in index order.
        content_ids: ``(H, W)`` int32 label index per content pixel (-1: no style loss).
        style_ids: ``(Hs, Ws)`` int32 label index per style pixel (-1: not used).
        whole_style: labels styled from the whole style image (orphans under the
            ``"whole-style"`` policy).
        report: what happened (areas, orphans, dropped labels), JSON-ready.
    """

    labels: list[str]
    content_ids: np.ndarray
    style_ids: np.ndarray
    whole_style: set[str] = field(default_factory=set)
    report: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def single(cls, content_shape: tuple[int, int], style_shape: tuple[int, int]) -> MaskSet:
        """No segmentation: one label covering every pixel of both images."""
        return cls(
            ["all"],
            np.zeros(content_shape, np.int32),
            np.zeros(style_shape, np.int32),
            report={"mode": "none", "labels": {"all": {"content": 1.0, "style": 1.0}}},
        )

    def content_masks(self, size: tuple[int, int]) -> torch.Tensor:
        """Soft content masks ``(L, h, w)`` in [0, 1] at ``size``."""
        return soft_masks(self.content_ids, len(self.labels), size)

    def style_masks(self, size: tuple[int, int]) -> torch.Tensor:
        """Soft style masks ``(L, h, w)`` at ``size``; whole-style labels are all ones."""
        masks = soft_masks(self.style_ids, len(self.labels), size)
        for i, name in enumerate(self.labels):
            if name in self.whole_style:
                masks[i] = 1.0
        return masks

    def summary(self) -> list[tuple[str, str, float, float, str]]:
        """The report as rows, in the order every front-end shows them: ``(kind, name,
        content share, style share, why)`` with kind ``"label"``, ``"orphan"`` (styled
        from the whole style image), ``"dropped"`` (``why`` says why; shares 0) and last
        ``"unlabelled"`` (the pixels without style loss)."""
        report = self.report
        rows = []
        for name in self.labels:
            areas = report.get("labels", {}).get(name, {})
            rows.append(("orphan" if name in self.whole_style else "label", name,
                         areas.get("content", 0.0), areas.get("style", 0.0), ""))
        rows += [("dropped", name, 0.0, 0.0, why)
                 for name, why in report.get("dropped", {}).items()]
        rows.append(("unlabelled", "unlabelled", report.get("content_unlabelled", 0.0),
                     report.get("style_unlabelled", 0.0), ""))
        return rows

    def content_weights(self) -> torch.Tensor:
        """``(L,)`` each label's share of the labelled content pixels (sums to 1)."""
        counts = np.bincount(self.content_ids[self.content_ids >= 0].ravel(),
                             minlength=len(self.labels)).astype(np.float64)
        return torch.from_numpy(counts / max(counts.sum(), 1.0)).float()


def align_labels(
    content: LabelMap,
    style: LabelMap,
    *,
    orphan_policy: str = "whole-style",
    min_fraction: float = 0.002,
) -> MaskSet:
    """Build the :class:`MaskSet` of labels shared by a content and a style label map.

    * A content label absent from the style (an *orphan*) is styled from the whole style
      image (``"whole-style"``) or left without style loss (``"drop"``); never driven
      towards zero features.
    * Labels covering less than ``min_fraction`` of either image are dropped (an orphan
      is judged by its content area only).
    * Style labels absent from the content are ignored.

    Raises:
        InputError: the masks are of different kinds, or share no usable label.
    """
    if content.kind != style.kind:
        raise InputError(
            f"masks {content.source} ({content.kind}) and {style.source} ({style.kind}) are "
            "of different kinds; give both colour-coded or both label maps"
        )
    c_area, s_area = content.areas(), style.areas()
    labels: list[str] = []
    orphans: list[str] = []
    dropped: dict[str, str] = {}
    whole: set[str] = set()
    for name in content.names:
        ca, sa = c_area.get(name, 0.0), s_area.get(name, 0.0)
        if ca < min_fraction:
            dropped[name] = f"covers {ca:.2%} of the content (< {min_fraction:.2%})"
            continue
        if sa == 0.0:
            orphans.append(name)
            if orphan_policy == "drop":
                dropped[name] = "absent from the style (orphan, policy 'drop')"
                continue
            whole.add(name)
        elif sa < min_fraction:
            dropped[name] = f"covers {sa:.2%} of the style (< {min_fraction:.2%})"
            continue
        labels.append(name)
    if not labels or labels == [n for n in labels if n in whole]:
        shared = [n for n in content.names if s_area.get(n, 0) > 0]
        raise InputError(
            f"masks {content.source} and {style.source} share no usable label (content "
            f"labels: {', '.join(content.names)}; style labels: {', '.join(style.names)}"
            + ("" if shared else "; none in common")
            + "); check that both use the same colours or ids"
        )
    for name, why in dropped.items():
        log.warning("label %s dropped: %s", name, why)
    for name in orphans:
        if name in whole:
            log.warning("label %s is absent from the style image: styled from the whole "
                        "style image", name)
    c_ids = _remap(content, labels)
    s_ids = _remap(style, labels)
    report = {
        "mode": "masks",
        "kind": content.kind,
        "content_mask": content.source,
        "style_mask": style.source,
        "content_unlabelled": float((content.ids < 0).mean()),
        "style_unlabelled": float((style.ids < 0).mean()),
        "labels": {n: {"content": c_area.get(n, 0.0), "style": s_area.get(n, 0.0)}
                   for n in labels},
        "orphans": orphans,
        "orphan_policy": orphan_policy,
        "dropped": dropped,
    }
    return MaskSet(labels, c_ids, s_ids, whole, report)


MaskSource = str | os.PathLike | np.ndarray | LabelMap


def load_mask_pair(
    content_mask: MaskSource | None,
    style_mask: MaskSource | None,
    content_shape: tuple[int, int],
    style_shape: tuple[int, int],
    *,
    tolerance: int = 48,
    max_pixels: int = 150_000_000,
    orphan_policy: str = "whole-style",
    min_fraction: float = 0.002,
) -> MaskSet:
    """Read a content/style mask pair (files, arrays or label maps), fit each to its image
    and align their labels; neither mask gives one label covering both images.

    Raises:
        ConfigError: only one of the two masks is given.
        InputError: a mask is unreadable, of another image, or the two share no label.
    """
    if content_mask is None and style_mask is None:
        return MaskSet.single(content_shape, style_shape)
    if content_mask is None or style_mask is None:
        from photostyle.errors import ConfigError

        given = "content" if content_mask is not None else "style"
        missing = "style" if given == "content" else "content"
        raise ConfigError(
            f"a {given} mask was given without a {missing} mask; give both "
            "(--content-mask and --style-mask) or neither"
        )

    def read(mask: MaskSource, shape: tuple[int, int], what: str) -> LabelMap:
        if isinstance(mask, LabelMap):
            labels = mask
        elif isinstance(mask, np.ndarray):
            labels = parse_mask_array(mask, tolerance=tolerance, source=what)
        else:
            labels = read_mask(mask, tolerance=tolerance, max_pixels=max_pixels)
        return fit_to_image(labels, shape, what)

    return align_labels(read(content_mask, content_shape, "content mask"),
                        read(style_mask, style_shape, "style mask"),
                        orphan_policy=orphan_policy, min_fraction=min_fraction)


def _remap(labels: LabelMap, keep: list[str]) -> np.ndarray:
    index = {n: i for i, n in enumerate(keep)}
    table = np.array([index.get(n, -1) for n in labels.names] + [-1], dtype=np.int32)
    return table[labels.ids]


def soft_masks(ids: np.ndarray, n_labels: int, size: tuple[int, int]) -> torch.Tensor:
    """One-hot masks of a label map, area-averaged to ``size``.

    Args:
        ids: ``(H, W)`` int label indices (-1: none).
        n_labels: number of labels ``L``.
        size: ``(h, w)`` output size.

    Returns:
        ``(L, h, w)`` float32 in [0, 1]; the masks sum to the labelled share of each
        output pixel.
    """
    t = torch.from_numpy(ids.astype(np.int64))
    onehot = torch.stack([(t == i).float() for i in range(n_labels)])
    return resize_masks(onehot, size)


def resize_masks(masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize ``(L, H, W)`` soft masks to ``size``: area averaging down, bilinear up."""
    if tuple(masks.shape[-2:]) == tuple(size):
        return masks.clone()
    h, w = masks.shape[-2:]
    if size[0] <= h and size[1] <= w:
        out = F.adaptive_avg_pool2d(masks[None], size)[0]
    else:
        out = F.interpolate(masks[None], size=size, mode="bilinear", align_corners=False)[0]
    return out.clamp_(0.0, 1.0)


def layer_masks(masks: torch.Tensor, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Masks at the exact spatial size of each feature map.

    Args:
        masks: ``(L, H, W)`` soft masks at the image's size.
        features: ``{layer: (1, C, H_l, W_l)}``; only the sizes are used.

    Returns:
        ``{layer: (L, H_l, W_l)}``.
    """
    return {
        name: resize_masks(masks, (int(f.shape[-2]), int(f.shape[-1])))
        for name, f in features.items()
    }
