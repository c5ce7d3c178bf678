"""Automatic semantic segmentation with segmentation-models-pytorch (ADE20K SegFormer).

Both photos are segmented by one model (loaded once) into ADE20K's 150 classes, which are
merged into nine semantic groups that matter for photographs (:data:`GROUPS`, one colour of
the paper's palette each). Fragments smaller than a share of the image are absorbed by
their surroundings, and region borders can be snapped to the photo's edges. The result is
a pair of :class:`~photostyle.engine.masks.LabelMap` with shared group names; label alignment
(orphans, tiny labels) is then done by :func:`photostyle.engine.masks.align_labels`, exactly as
for masks drawn by hand.

Model: ``smp-hub/segformer-b2-512x512-ade-160k`` by default (SegFormer-B2, 27M parameters,
about 46% mIoU on ADE20K): B0/B1 are faster but confuse sky, water and buildings more
often; B4/B5 are 2-4x slower on a CPU for a few points of mIoU. Any other hub name or a
local directory written by ``save_pretrained`` can be given (``--seg-model``); with
``HF_HUB_OFFLINE=1`` or ``PHOTOSTYLE_OFFLINE=1`` nothing is downloaded.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from photostyle.engine.masks import PALETTE, LabelMap
from photostyle.errors import PhotostyleError

log = logging.getLogger(__name__)

DEFAULT_MODEL = "smp-hub/segformer-b2-512x512-ade-160k"
INPUT_SIZE = 512
_MEAN = (123.675, 116.28, 103.53)  # the checkpoints' Normalize, on 0-255 values
_STD = (58.395, 57.12, 57.375)

#: ADE20K's 150 classes in model output order (SceneParsing "objectInfo150").
ADE20K_CLASSES = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane",
    "grass", "cabinet", "sidewalk", "person", "earth", "door", "table", "mountain", "plant",
    "curtain", "chair", "car", "water", "painting", "sofa", "shelf", "house", "sea", "mirror",
    "rug", "field", "armchair", "seat", "fence", "desk", "rock", "wardrobe", "lamp",
    "bathtub", "railing", "cushion", "base", "box", "column", "signboard",
    "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace", "refrigerator",
    "grandstand", "path", "stairs", "runway", "case", "pool table", "pillow", "screen door",
    "stairway", "river", "bridge", "bookcase", "blind", "coffee table", "toilet", "flower",
    "book", "hill", "bench", "countertop", "stove", "palm", "kitchen island", "computer",
    "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus", "towel", "light",
    "truck", "tower", "chandelier", "awning", "streetlight", "booth", "television receiver",
    "airplane", "dirt track", "apparel", "pole", "land", "bannister", "escalator", "ottoman",
    "bottle", "buffet", "poster", "stage", "van", "ship", "fountain", "conveyer belt",
    "canopy", "washer", "plaything", "swimming pool", "stool", "barrel", "basket",
    "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball", "food", "step", "tank",
    "trade name", "microwave", "pot", "animal", "bicycle", "lake", "dishwasher", "screen",
    "blanket", "sculpture", "hood", "sconce", "vase", "traffic light", "tray", "ashcan",
    "fan", "pier", "crt screen", "plate", "monitor", "bulletin board", "shower", "radiator",
    "glass", "clock", "flag",
)  # fmt: skip

#: Semantic groups: every ADE20K class in exactly one (checked by the tests).
GROUPS: dict[str, tuple[str, ...]] = {
    "sky": ("sky",),
    "vegetation": ("tree", "grass", "plant", "field", "flower", "palm"),
    "water": ("water", "sea", "river", "lake", "swimming pool", "waterfall", "fountain"),
    "terrain": ("mountain", "hill", "rock", "sand", "land"),
    "ground": ("floor", "road", "sidewalk", "earth", "path", "runway", "dirt track", "stairs",
               "stairway", "step", "rug", "pier", "grandstand", "stage"),
    "structure": ("wall", "building", "ceiling", "house", "skyscraper", "tower", "hovel",
                  "bridge", "column", "fence", "railing", "bannister", "windowpane", "door",
                  "screen door", "awning", "canopy", "booth", "tent", "escalator", "pole",
                  "streetlight", "traffic light", "signboard", "fireplace"),
    "person": ("person", "animal"),
    "vehicle": ("car", "bus", "truck", "van", "boat", "ship", "airplane", "bicycle",
                "minibike", "tank"),
    "objects": (),  # every remaining class (furniture, household objects, ...)
}
#: Palette colour of each group in written masks.
GROUP_COLOURS: dict[str, str] = {
    "sky": "blue", "vegetation": "green", "water": "lightblue", "terrain": "purple",
    "ground": "grey", "structure": "black", "person": "red", "vehicle": "yellow",
    "objects": "white",
}
GROUP_NAMES = tuple(GROUPS)


def _class_to_group() -> np.ndarray:
    table = np.full(len(ADE20K_CLASSES), GROUP_NAMES.index("objects"), dtype=np.int32)
    for g, classes in GROUPS.items():
        for name in classes:
            table[ADE20K_CLASSES.index(name)] = GROUP_NAMES.index(g)
    return table


CLASS_TO_GROUP = _class_to_group()


def group_members() -> dict[str, list[str]]:
    """Every group with all its ADE20K classes (``objects`` gets the remainder)."""
    out: dict[str, list[str]] = {g: [] for g in GROUP_NAMES}
    for index, name in enumerate(ADE20K_CLASSES):
        out[GROUP_NAMES[CLASS_TO_GROUP[index]]].append(name)
    return out


class SegmentationError(PhotostyleError):
    """The segmentation model is unavailable or unusable."""


def _offline() -> bool:
    from photostyle.engine.network import offline_requested

    return offline_requested()


def _hf_cache_dir() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except Exception:  # pragma: no cover - very old huggingface_hub
        return os.path.expanduser("~/.cache/huggingface/hub")


def _unavailable(name: str, reason: str) -> SegmentationError:
    return SegmentationError(
        f"segmentation model {name} is not available: {reason}. It is downloaded on first use "
        f"into the Hugging Face cache ({_hf_cache_dir()}); offline, copy it there or give a "
        "local folder with --seg-model DIR. Alternatives: --segment none (no segmentation), "
        "or your own masks with --content-mask/--style-mask"
    )


class Segmenter:
    """An ADE20K segmentation network and the merge into :data:`GROUPS`.

    Args:
        model: a segmentation-models-pytorch model with 150 output classes.
        name: where it came from (messages, reports).
        device: where it runs.
    """

    def __init__(self, model: torch.nn.Module, name: str = "model",
                 device: torch.device | str = "cpu") -> None:
        self.model = model.eval().to(device)
        self.name = name
        self.device = torch.device(device)
        self.seconds: list[float] = []

    @classmethod
    def load(cls, name: str = DEFAULT_MODEL, device: torch.device | str = "cpu") -> Segmenter:
        """Load a hub checkpoint or a local ``save_pretrained`` folder.

        Raises:
            SegmentationError: offline and not cached, download failed, or not a 150-class
                segmentation model; the message names the model, the cache and the
                alternatives.
        """
        from photostyle.interrupts import import_whole

        import_whole("segmentation_models_pytorch")  # an interrupt must not cut it in half
        import segmentation_models_pytorch as smp

        local = Path(name).expanduser()
        source: str = str(local) if local.is_dir() else name
        if not local.is_dir():
            looks_like_path = name.startswith((".", "/", "~")) or name.count("/") != 1
            if looks_like_path:
                raise _unavailable(name, "no such folder (a hub name is 'owner/model')")
            from huggingface_hub import constants, try_to_load_from_cache

            cached = isinstance(try_to_load_from_cache(name, "config.json"), str)
            offline = _offline()
            if not offline:  # no network: say so now, not after the hub's retries
                from photostyle.engine.network import unreachable

                why = unreachable(constants.ENDPOINT)
                if why is not None and not cached:
                    raise _unavailable(name, f"no network ({why}) and it is not cached")
                offline = why is not None
            if offline:
                if not cached:
                    raise _unavailable(name, "offline mode is set and it is not cached")
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
        start = time.perf_counter()
        try:
            model = smp.from_pretrained(source)
        except Exception as exc:
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise _unavailable(name, f"{type(exc).__name__}: {text[:200]}") from None
        classes = _output_classes(model)
        if classes is not None and classes != len(ADE20K_CLASSES):
            raise SegmentationError(
                f"segmentation model {name}: has {classes} output classes; an ADE20K model "
                f"with {len(ADE20K_CLASSES)} is needed")
        log.info("segmentation model %s loaded in %.1f s", name, time.perf_counter() - start)
        return cls(model, name, device)

    @torch.no_grad()
    def class_scores(self, image: np.ndarray) -> torch.Tensor:
        """ADE20K class scores ``(150, h, w)`` for an ``(H, W, 3)`` image in [0, 1]
        (``h, w`` = the image size, at most 1024 on the long side)."""
        start = time.perf_counter()
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].float()
        x = F.interpolate(x * 255.0, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear",
                          align_corners=False, antialias=True)
        mean = torch.tensor(_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(_STD).view(1, 3, 1, 1)
        logits = self.model(((x - mean) / std).to(self.device)).float().cpu()
        h, w = image.shape[:2]
        scale = min(1.0, 1024 / max(h, w))
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        out = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)[0]
        self.seconds.append(time.perf_counter() - start)
        return out

    def groups(self, image: np.ndarray, *, min_fragment: float = 0.002,
               snap_edges: bool = True) -> np.ndarray:
        """Group index per pixel ``(H, W)`` (into :data:`GROUP_NAMES`).

        Args:
            image: ``(H, W, 3)`` in [0, 1].
            min_fragment: connected fragments smaller than this share of the image take
                the group of their surroundings.
            snap_edges: align region borders with the photo's edges (guided filtering of
                the group probabilities with the photo as guide).
        """
        scores = self.class_scores(image)
        probs = torch.softmax(scores, dim=0)
        table = torch.from_numpy(CLASS_TO_GROUP.astype(np.int64))
        group_probs = torch.zeros((len(GROUP_NAMES), *probs.shape[1:]))
        group_probs.index_add_(0, table, probs)
        gp = group_probs.numpy().transpose(1, 2, 0)
        if snap_edges:
            from photostyle.engine.smooth import guided_filter
            from photostyle.files.images import resize

            guide = resize(image.astype(np.float32), gp.shape[:2])
            gp = guided_filter(guide, gp.astype(np.float32), radius=4, eps=1e-3)
        ids = gp.argmax(axis=2).astype(np.int32)
        ids = remove_fragments(ids, min_fragment)
        if ids.shape != image.shape[:2]:  # images over 1024 px: nearest-neighbour up
            import cv2

            ids = cv2.resize(ids, (image.shape[1], image.shape[0]),
                             interpolation=cv2.INTER_NEAREST)
        return ids

    def label_map(self, image: np.ndarray, source: str, **kwargs: Any) -> LabelMap:
        """A colour-kind :class:`LabelMap` of the groups, named by palette colour."""
        ids = self.groups(image, **kwargs)
        present = [g for g in range(len(GROUP_NAMES)) if (ids == g).any()]
        remap = np.full(len(GROUP_NAMES), -1, np.int32)
        for new, old in enumerate(present):
            remap[old] = new
        names = [GROUP_COLOURS[GROUP_NAMES[g]] for g in present]
        return LabelMap(remap[ids], names, "color", source)

    def segment_pair(self, content: np.ndarray, style: np.ndarray,
                     **kwargs: Any) -> tuple[LabelMap, LabelMap]:
        """Label maps of content and style with shared group names."""
        return (self.label_map(content, f"auto:{self.name}:content", **kwargs),
                self.label_map(style, f"auto:{self.name}:style", **kwargs))


def _output_classes(model: torch.nn.Module) -> int | None:
    head = getattr(model, "segmentation_head", None)
    if head is None:
        return None
    for module in reversed(list(head.modules())):
        if isinstance(module, torch.nn.Conv2d):
            return int(module.out_channels)
    return None


def remove_fragments(ids: np.ndarray, min_fraction: float) -> np.ndarray:
    """Give connected fragments smaller than ``min_fraction`` of the image to their
    surroundings (the nearest pixel of a kept fragment)."""
    import cv2
    from scipy.ndimage import distance_transform_edt

    if min_fraction <= 0:
        return ids
    min_pixels = max(1, int(min_fraction * ids.size))
    keep = np.ones(ids.shape, bool)
    for g in np.unique(ids):
        _, comp, stats, _ = cv2.connectedComponentsWithStats((ids == g).astype(np.uint8),
                                                             connectivity=8)
        small = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] < min_pixels) + 1
        if small.size:
            keep &= ~np.isin(comp, small)
    if keep.all() or not keep.any():
        return ids
    _, (rows, cols) = distance_transform_edt(~keep, return_indices=True)
    return ids[rows, cols]


def write_mask(labels: LabelMap, path: str | os.PathLike) -> Path:
    """Write a colour-coded mask (paper's palette) that the mask reader reads back."""
    from PIL import Image

    from photostyle.files.writers import atomic_write

    colours = np.array([PALETTE[n] for n in labels.names] + [(0, 0, 0)], np.uint8)
    rgb = colours[np.where(labels.ids >= 0, labels.ids, len(labels.names))]
    p = Path(path)
    with atomic_write(p) as handle:
        Image.fromarray(rgb).save(handle, format="PNG")
    return p


def legend_text() -> str:
    """Which palette colour is which group, and the ADE20K classes in each."""
    members = group_members()
    lines = []
    for g in GROUP_NAMES:
        lines.append(f"{GROUP_COLOURS[g]:<10} {PALETTE[GROUP_COLOURS[g]]!s:<16} {g}: "
                     + ", ".join(members[g]))
    return "\n".join(lines)
