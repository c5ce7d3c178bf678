"""``transfer()``: the stages of photorealistic style transfer, in order.

1. read the images (and masks) and bring the content to the working size;
2. align the labels of content and style masks (one all-covering label without masks);
3. load the trimmed VGG19;
4. for each pyramid level, coarse to fine: compute the content target and the masked style
   Gram targets once, build the matting Laplacian of the content once, and optimise,
   starting from the previous level's result carried up as a residual over the content;
5. smooth, and write the result at the output resolution via local affine transforms.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from photostyle.engine import grid
from photostyle.engine.colour import GAIN_RANGE, region_colour_transfer
from photostyle.engine.config import TransferConfig
from photostyle.engine.masks import LabelMap, MaskSet, align_labels, load_mask_pair
from photostyle.engine.network import VGGFeatures, network_for, resolve_device
from photostyle.engine.objective import LevelProblem, _style_size, _to_array, _to_tensor
from photostyle.engine.optimize import LevelOutcome, optimise_level
from photostyle.engine.report import Timer, input_files, versions
from photostyle.engine.smooth import affine_coefficients, render_plain, render_result
from photostyle.engine.transforms import Look, pixel_digest
from photostyle.errors import ConfigError
from photostyle.files import icc
from photostyle.files.icc import Encoding, RGBProfile
from photostyle.files.images import (
    ImageLike,
    Photo,
    fit_long_side,
    load_image,
    read_content,
    resize,
)
from photostyle.files.metadata import Metadata
from photostyle.files.writers import default_bit_depth, save_image
from photostyle.interrupts import deferred_interrupts

log = logging.getLogger(__name__)

MaskLike = str | os.PathLike | np.ndarray | LabelMap
#: ``progress(level_index, n_levels, evaluation, evaluations_in_level, terms)``
ProgressCallback = Callable[[int, int, int, int, dict[str, float]], None]
#: ``watch(level_index, evaluation, image)``: the image just evaluated, ``(h, w, 3)`` float32
#: in [0, 1] (sRGB, the level's working size); for showing a run as it improves.
WatchCallback = Callable[[int, int, np.ndarray], None]


@dataclass
class TransferResult:
    """The outcome of :func:`transfer`.

    Attributes:
        image: ``(H, W, 3)`` float32 in [0, 1] at the output resolution.
        working_image: ``(h, w, 3)`` optimised image at the working size, before smoothing.
        report: JSON-ready record of settings, losses, timings and versions.
        status: ``"completed"``, ``"interrupted"`` or ``"diverged"``.
        message: why the run stopped early, if it did.
    """

    image: np.ndarray
    working_image: np.ndarray
    report: dict[str, Any] = field(default_factory=dict)
    status: str = "completed"
    message: str = ""
    profile: RGBProfile | None = None
    icc_profile: bytes | None = None
    bit_depth: int = 8
    look: Look | None = None

    def save(self, path: str | os.PathLike, *, quality: int = 95,
             metadata: Metadata | None = None, bit_depth: int | None = None) -> Path:
        """Write the image atomically, with its colour profile embedded.

        Args:
            path: format from the extension.
            quality: JPEG and WebP quality.
            metadata: EXIF and XMP to embed (see :func:`photostyle.files.metadata.read_metadata`).
            bit_depth: 8 or 16; ``None``: the content's (16 for a 16-bit content written
                as PNG or TIFF), else 8.
        """
        depth = bit_depth or default_bit_depth(path, self.bit_depth)
        return save_image(self.image, path, quality=quality, metadata=metadata,
                          bit_depth=depth, icc_profile=self.icc_profile)

    def srgb(self) -> np.ndarray:
        """The image in sRGB (for display and measures): ``(H, W, 3)`` float32 in [0, 1]."""
        return Photo(self.image, self.profile).srgb()


def _describe(source: Any) -> str:
    if isinstance(source, str | os.PathLike):
        return str(source)
    if isinstance(source, Photo):
        return f"photo ({source.colour})"
    return type(source).__name__


def read_masks(
    content_mask: MaskLike | None,
    style_mask: MaskLike | None,
    content_shape: tuple[int, int],
    style_shape: tuple[int, int],
    config: TransferConfig,
    images: tuple[np.ndarray, np.ndarray] | None = None,
    cache: dict[Any, Any] | None = None,
    device: torch.device | None = None,
) -> MaskSet:
    """The masks a transfer uses: the given pair (files, arrays or label maps, fitted to
    the images and aligned), or with neither and ``config.segment == "auto"`` both photos
    segmented (``images``: their sRGB pixels; the model is kept in ``cache``), or else one
    label covering both."""
    if content_mask is None and style_mask is None and config.segment == "auto" and images:
        return _auto_masks(images, config, cache, device)
    return load_mask_pair(content_mask, style_mask, content_shape, style_shape,
                          tolerance=config.mask_tolerance, max_pixels=config.max_pixels,
                          orphan_policy=config.orphan_policy,
                          min_fraction=config.min_label_fraction)


def _auto_masks(
    images: tuple[np.ndarray, np.ndarray],
    config: TransferConfig,
    cache: dict[Any, Any] | None,
    device: torch.device | None,
) -> MaskSet:
    """Segment both photos with ``config.seg_model`` (the built-in one into at most
    ``config.seg_regions`` regions with ``config.seg_inside_weight``; the segmenter is
    kept in ``cache`` when one is given)."""
    from photostyle.engine.autoseg import NAME

    segmenter = load_segmenter(config.seg_model, device, cache)
    builtin = config.seg_model == NAME
    options: dict[str, Any] = ({"regions": config.seg_regions,
                                "inside_weight": config.seg_inside_weight} if builtin else {})
    content_labels, style_labels = segmenter.segment_pair(
        *images, min_fragment=config.min_label_fraction, **options)
    masks = align_labels(content_labels, style_labels, orphan_policy=config.orphan_policy,
                         min_fraction=config.min_label_fraction)
    masks.report.update({"mode": "auto", "model": config.seg_model, **options,
                         "segmenter": segmenter_description(config.seg_model),
                         "segmentation_seconds": [round(t, 3) for t in segmenter.seconds[-2:]]})
    return masks


def load_segmenter(name: str, device: torch.device | str | None = None,
                   cache: dict[Any, Any] | None = None) -> Any:
    """The segmenter ``name`` names: ``"builtin"`` (:mod:`photostyle.engine.autoseg`, no
    download) or a SegFormer hub name or folder (:mod:`photostyle.engine.segment`); kept in
    ``cache`` when one is given. Both have ``segment_pair``, ``label_map`` and ``seconds``.

    Raises:
        SegmentationError: a named model that cannot be had (offline, not cached...).
    """
    from photostyle.engine.autoseg import NAME, FeatureSegmenter
    from photostyle.engine.segment import Segmenter

    key = ("segmenter", name, str(device))
    segmenter = cache.get(key) if cache is not None else None
    if segmenter is None:
        segmenter = (FeatureSegmenter.load(device or "cpu") if name == NAME
                     else Segmenter.load(name, device or "cpu"))
        if cache is not None:
            cache[key] = segmenter
    return segmenter


def segmenter_description(name: str) -> str:
    """What made automatic masks, in words (reports, the console, the app)."""
    from photostyle.engine.autoseg import DESCRIPTION, NAME

    if name == NAME:
        return DESCRIPTION
    return f"SegFormer model {name} (ADE20K; its weights are for non-commercial use only)"


def transfer(
    content: ImageLike | Photo,
    style: ImageLike,
    config: TransferConfig | None = None,
    *,
    content_mask: MaskLike | None = None,
    style_mask: MaskLike | None = None,
    extractor: VGGFeatures | None = None,
    progress: ProgressCallback | None = None,
    snapshot_dir: str | os.PathLike | None = None,
    cache: dict[Any, Any] | None = None,
    watch: WatchCallback | None = None,
    **overrides: Any,
) -> TransferResult:
    """Photorealistic style transfer of ``style``'s colour and light onto ``content``.

    Args:
        content, style: file paths, PIL images, or arrays ``(H, W, 3)`` (see
            :func:`photostyle.files.images.load_image`). Files are colour managed: the work
            is done in sRGB and the result encoded in the content's own profile (or sRGB, see
            ``config.output_profile``); 16-bit files keep their precision.
        config: settings (defaults: :class:`TransferConfig`); ``overrides`` replace fields,
            e.g. ``transfer(c, s, size=256, matting_weight=0)``.
        content_mask, style_mask: mask files, arrays or :class:`LabelMap`; both or neither.
        extractor: a ready feature extractor (reused across calls, e.g. by ablations);
            must tap every layer in use.
        progress: called after each evaluation (see :data:`ProgressCallback`).
        snapshot_dir: where snapshots go when ``config.save_every > 0``.
        cache: a dictionary reused across calls to share expensive intermediate results
            (the matting Laplacians) between runs on the same content.
        watch: called after each evaluation with the image evaluated (see
            :data:`WatchCallback`). A ``KeyboardInterrupt`` raised by ``progress`` or
            ``watch`` stops the run like Ctrl-C (a web app's cancel button): the best image
            so far is kept.

    Returns:
        A :class:`TransferResult`. Ctrl-C or a diverging loss end the optimisation early;
        the result then holds the best image so far and ``status`` says why.
    """
    config = config or TransferConfig()
    if overrides:
        config = config.replace(**overrides)
    timer = Timer()
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)

    with timer.stage("load"):
        photo = read_content(content, config.max_pixels)
        content_full = photo.srgb()
        style_full = load_image(style, max_pixels=config.max_pixels, what="style image")
    target, encoding, icc_out = _output_encoding(photo, config)
    with timer.stage("masks"):
        masks = read_masks(content_mask, style_mask, content_full.shape[:2],
                            style_full.shape[:2], config, (content_full, style_full), cache,
                            device)
    layers = config.layers_in_use()
    sizes = config.level_sizes(max(content_full.shape[:2]))
    iterations = config.iterations_per_level()
    optimise = any(iterations)  # no step at all: the starting image is the result
    with timer.stage("network"):
        extractor = _ready_network(extractor, config, layers, device) if optimise else None

    if optimise:
        _check_level_sizes(content_full.shape[:2], sizes[0], layers, _describe(content),
                           config.network)
    level_reports: list[dict[str, Any]] = []
    status, message = "completed", ""
    x: torch.Tensor | None = None
    look_grid: torch.Tensor | None = None  # variable="grid": the best grid so far
    prev_content: torch.Tensor | None = None
    content_work = content_full
    out_h, out_w = config.output_shape(*content_full.shape[:2])
    _check_output_size((out_h, out_w), config.max_pixels)
    if not optimise:  # the finest level's starting image, made locally affine below
        with timer.stage("init"):
            content_work = _level_content(content_full, sizes[-1])
            x = _start_image(config, content_work, style_full, masks, generator, device)
        level_reports.append({"level": 0, "size": list(content_work.shape[:2]),
                              "evaluations": 0, "seconds": 0.0, "status": "completed"})
        sizes, iterations = (), ()
    for level, (long_side, n_iter) in enumerate(zip(sizes, iterations, strict=True)):
        assert extractor is not None
        if n_iter == 0 and x is not None and config.variable == "pixels":
            # nothing to optimise at this size: the coarser result carried up is this
            # level's result (no network pass, no Laplacian), to be smoothed at this size
            with timer.stage("prepare"):
                assert prev_content is not None
                content_np = _level_content(content_full, long_side)
                content_t = _to_tensor(content_np, device)
                x = _carry(x, prev_content, content_t)
            prev_content, content_work = content_t, content_np
            level_reports.append({"level": level, "size": list(content_np.shape[:2]),
                                  "evaluations": 0, "seconds": 0.0, "status": "completed"})
            continue
        try:
            problem, x0, content_np, content_t, style_t = _prepare_level(
                long_side, content_full, style_full, masks, config, extractor, device, timer,
                cache, x, prev_content, generator, look_grid)
            h, w = content_np.shape[:2]

            def on_step(count: int, total: int, terms: dict[str, float],
                        level: int = level) -> None:
                if progress is not None:
                    progress(level, len(sizes), count, total, terms)

            snapshot = _snapshot_writer(snapshot_dir, config.save_every, level, watch)
            with timer.stage("optimise"):
                outcome = _run_level(x0, problem, config, n_iter, on_step, snapshot)
            if config.variable == "grid":
                look_grid = outcome.image
                with torch.no_grad():
                    outcome.image = grid.render(look_grid, content_t, problem.regions,
                                                problem.blocks)
            x, prev_content, content_work = outcome.image, content_t, content_np
            level_reports.append(_level_report(level, (h, w), style_t.shape[-2:], outcome))
            del problem
        except KeyboardInterrupt:
            if x is None:
                raise  # nothing to keep yet
            status, message = "interrupted", "interrupted by the user"
            break
        if outcome.status != "completed":
            status, message = outcome.status, outcome.message
            break

    assert x is not None
    working = _to_array(x)
    if config.colour_match > 0 and optimise:
        # part of the look, kept for an interrupted run's best image too; a fraction of a
        # second, so an interrupt waits for it
        with timer.stage("colour"), deferred_interrupts() as held:
            style_work = resize(style_full, _style_size(style_full.shape[:2],
                                                        working.shape[0] * working.shape[1]))
            working = region_colour_transfer(working, style_work, masks,
                                             strength=config.colour_match,
                                             gain_range=(GAIN_RANGE[0],
                                                         config.colour_match_gain))
        if held.received is not None and status == "completed":
            status, message = "interrupted", "interrupted after the optimisation"
    with timer.stage("smooth"):
        final, look, interrupted = _finish(working, content_work, photo, (out_h, out_w),
                                           config, encoding, _look_info(content, content_full,
                                                                        config), look_grid)
    if interrupted:
        status = "interrupted"
        message = ("interrupted while smoothing: the optimised image is kept without "
                   "smoothing (resized to the output size)")
    with deferred_interrupts() as late:
        report = _run_report(content, style, content_full, style_full, (out_h, out_w), working,
                             config, device, extractor, masks, level_reports, timer)
        report["files"] = input_files(content=content, style=style,
                                      content_mask=content_mask, style_mask=style_mask)
    if late.received is not None and status == "completed":
        status, message = "interrupted", "interrupted after the result was finished"
    report["status"], report["message"] = status, message
    report["colour"] = _colour_report(photo, target, icc_out)
    return TransferResult(final, working, report, status, message, target, icc_out,
                          photo.bit_depth, look)


def _ready_network(extractor: VGGFeatures | None, config: TransferConfig,
                   layers: Sequence[str], device: torch.device) -> VGGFeatures:
    """The network for the run: ``extractor`` when given (checked: its backbone and layers
    must be the settings'), else the one the settings ask for.

    Raises:
        ConfigError: the given extractor is another backbone or lacks a layer in use.
    """
    if extractor is None:
        return network_for(config, layers, device)
    if getattr(extractor, "network", "vgg19") != config.network:
        raise ConfigError(f"extractor is a {extractor.network.upper()}, the settings "
                          f"ask for {config.network.upper()}")
    missing = [n for n in layers if n not in extractor.layers]
    if missing:
        raise ConfigError(f"extractor does not tap {', '.join(missing)}")
    return extractor.to(device)


def _finish(working: np.ndarray, content_work: np.ndarray, photo: Photo,
            out_size: tuple[int, int], config: TransferConfig, encoding: Encoding | None,
            info: dict[str, Any], look_grid: torch.Tensor | None = None,
            ) -> tuple[np.ndarray, Look | None, bool]:
    """The optimised image ``working`` (sRGB, at the working size) expressed as local affine
    transforms of the content, smoothed and rendered at ``out_size`` in the output's
    encoding: ``(final, look, interrupted)``. With ``look_grid`` (``variable="grid"``) and
    ``config.smooth == "none"`` the look is that grid itself: sliced at the output size
    with the content's own luminance, no fit and no smoothing (the saved look keeps the
    grid, and its maps at the working size for earlier versions of photostyle); with a
    smoother, the grid's image at the working size is smoothed like an optimised image.

    A result exists, so an interrupt never throws it away: the quickest path to the output
    size is the optimised image itself, resized (``look`` is then ``None``); further
    interrupts wait until it is done.
    """
    content_out = photo.pixels  # in the content's own encoding
    try:
        if out_size != content_out.shape[:2]:
            content_out = resize(photo.pixels, out_size)
        if look_grid is not None and config.smooth == "none":
            final = grid.render_array(look_grid, content_out, config.strength, encoding)
            a, b = grid.coefficient_maps(look_grid, content_work)
            return final, Look(a, b, {**info, "smooth": "grid"},
                               grid=look_grid.detach().cpu().numpy()), False
        # the coefficients (the fit alone with smooth="none") are the look to save
        a, b = affine_coefficients(content_work, working, config.smooth, config.smooth_radius,
                                   config.smooth_eps, config.smooth_sigma,
                                   config.smooth_spatial)
        final = render_result(a, b, working, content_out, config.smooth, config.strength,
                              encoding)
        return final, Look(a, b, info), False
    except KeyboardInterrupt:
        with deferred_interrupts():
            log.warning("interrupted while smoothing; keeping the unsmoothed result")
            if content_out.shape[:2] != out_size:
                content_out = resize(photo.pixels, out_size)
            return render_plain(working, content_out, config.strength, encoding), None, True


def _output_encoding(photo: Photo, config: TransferConfig
                     ) -> tuple[RGBProfile | None, Encoding | None, bytes | None]:
    """The output's profile (``None``: sRGB), the encoding from the content to it, and the
    ICC bytes to embed (tagged in, tagged out: an untagged content gives an untagged
    output)."""
    target = photo.profile if config.output_profile == "content" else None
    encoding = Encoding(photo.profile, target) if photo.profile is not None else None
    icc_out = photo.icc if config.output_profile == "content" else (
        icc.srgb().data if photo.icc else None)
    return target, encoding, icc_out


def _colour_report(photo: Photo, target: RGBProfile | None, icc_out: bytes | None
                   ) -> dict[str, Any]:
    return {"content": photo.colour, "content_bit_depth": photo.bit_depth,
            "output_profile": (target.name if target is not None else "sRGB")
            + ("" if icc_out else " (untagged)")}


def apply_look(look: Look, content: ImageLike | Photo, config: TransferConfig | None = None,
               **overrides: Any) -> TransferResult:
    """Render a saved look on its content: no network, no optimisation.

    Args:
        look: the transforms (:meth:`photostyle.engine.transforms.Look.load`).
        content: the content photo (a file path, PIL image, array or
            :class:`~photostyle.files.images.Photo`).
        config: only ``strength``, ``output_size``, ``output_profile`` and ``max_pixels``
            are used; ``overrides`` replace fields.

    Returns:
        A :class:`TransferResult` whose ``working_image`` is the content at the transforms'
        size and whose report records the look's making and this rendering.

    Raises:
        InputError: the content cannot be read, or its shape does not match the look's.
    """
    config = (config or TransferConfig()).replace(**overrides) if overrides else (
        config or TransferConfig())
    timer = Timer()
    with timer.stage("load"):
        photo = read_content(content, config.max_pixels)
        content_full = photo.srgb()
    look.check_content(content_full, _describe(content))
    out_h, out_w = config.output_shape(*content_full.shape[:2])
    _check_output_size((out_h, out_w), config.max_pixels)
    target, encoding, icc_out = _output_encoding(photo, config)
    with timer.stage("render"):
        content_out = photo.pixels if (out_h, out_w) == photo.pixels.shape[:2] else resize(
            photo.pixels, (out_h, out_w))
        final = look.render(content_out, config.strength, encoding)
    report = {"status": "completed", "message": "",
              "inputs": {"content": _describe(content),
                         "content_size": list(content_full.shape[:2]),
                         "output_size": [out_h, out_w]},
              "look": {k: v for k, v in look.info.items() if k != "settings"},
              "look_settings": look.info.get("settings", {}),
              "strength": config.strength, "colour": _colour_report(photo, target, icc_out),
              "files": input_files(content=content),
              "timings": timer.as_dict(), "versions": versions()}
    working = resize(content_full, look.a.shape[:2])
    return TransferResult(final, working, report, "completed", "", target, icc_out,
                          photo.bit_depth, look)


def _look_info(content: Any, content_full: np.ndarray, config: TransferConfig
               ) -> dict[str, Any]:
    """What a saved :class:`~photostyle.engine.transforms.Look` records about its making."""
    return {"content": _describe(content), "content_size": list(content_full.shape[:2]),
            "content_digest": pixel_digest(content_full), "smooth": config.smooth,
            "settings": config.to_dict()}


def _run_report(
    content: Any,
    style: ImageLike,
    content_full: np.ndarray,
    style_full: np.ndarray,
    out_size: tuple[int, int],
    working: np.ndarray,
    config: TransferConfig,
    device: torch.device,
    extractor: VGGFeatures | None,
    masks: MaskSet,
    level_reports: list[dict[str, Any]],
    timer: Timer,
) -> dict[str, Any]:
    """The JSON-ready record of a run (``status`` and ``message`` are filled in after)."""
    return {
        "status": "",
        "message": "",
        "inputs": {
            "content": _describe(content),
            "style": _describe(style),
            "content_size": list(content_full.shape[:2]),
            "style_size": list(style_full.shape[:2]),
            "output_size": list(out_size),
            "working_size": list(working.shape[:2]),
        },
        "config": config.to_dict(),
        "seed": config.seed,
        "device": str(device),
        "vgg_weights": extractor.source if extractor is not None else None,
        "masks": masks.report,
        "levels": level_reports,
        "evaluations": sum(r["evaluations"] for r in level_reports),
        "timings": timer.as_dict(),
        "versions": versions(),
    }


def _prepare_level(
    long_side: int,
    content_full: np.ndarray,
    style_full: np.ndarray,
    masks: MaskSet,
    config: TransferConfig,
    extractor: VGGFeatures,
    device: torch.device,
    timer: Timer,
    cache: dict[Any, Any] | None,
    x: torch.Tensor | None,
    prev_content: torch.Tensor | None,
    generator: torch.Generator,
    look_grid: torch.Tensor | None = None,
) -> tuple[LevelProblem, torch.Tensor, np.ndarray, torch.Tensor, torch.Tensor]:
    """Images, targets, Laplacian and starting point of one pyramid level: an image, or
    with ``config.variable == "grid"`` a grid (``look_grid``, the coarser level's, is
    carried up as it is: a grid does not depend on the image's size)."""
    with timer.stage("prepare"):
        content_np = _level_content(content_full, long_side)
        h, w = content_np.shape[:2]
        style_np = resize(style_full, _style_size(style_full.shape[:2], h * w))
        content_t = _to_tensor(content_np, device)
        style_t = _to_tensor(style_np, device)
    problem = LevelProblem(extractor, content_t, style_t, masks, config, content_np, timer,
                           cache)
    if config.variable == "grid":
        regions, blocks = (grid.region_map(masks.content_ids, (h, w)) if config.grid_regions
                           else (None, 1))
        problem.regions = regions.to(device) if regions is not None else None
        problem.blocks = blocks
        if look_grid is not None:
            return problem, look_grid, content_np, content_t, style_t
        with timer.stage("init"):
            cells, bins = config.grid_cells, config.grid_bins
            if config.init == "content":
                x0 = grid.identity_grid(h, w, cells, bins * blocks, device)
            else:
                start = _start_image(config, content_np, style_full, masks, generator, device)
                x0 = grid.fit_grid(content_t, start, cells, bins, regions=problem.regions,
                                   blocks=blocks)
    elif x is None:
        with timer.stage("init"):
            x0 = _start_image(config, content_np, style_full, masks, generator, device)
    else:  # the coarser result, carried up as a residual over this level's content
        assert prev_content is not None
        x0 = _carry(x, prev_content, content_t)
    return problem, x0, content_np, content_t, style_t


def _carry(x: torch.Tensor, prev_content: torch.Tensor, content_t: torch.Tensor
           ) -> torch.Tensor:
    """A coarser level's result ``x`` ``(1, 3, h', w')`` in [0, 1] carried up to this
    level's content ``content_t`` ``(1, 3, h, w)``: the content plus the coarser change
    (``x - prev_content``) upsampled bilinearly, clamped to [0, 1]. (Fitting the change as
    local affine transforms of the content instead was measured on ten pairs: no better,
    see docs/RESULTS.md.)"""
    residual = F.interpolate(x - prev_content, size=content_t.shape[-2:], mode="bilinear",
                             align_corners=False)
    return (content_t + residual).clamp(0.0, 1.0)


def _level_content(content_full: np.ndarray, long_side: int) -> np.ndarray:
    """The content ``(h, w, 3)`` at a level's long side."""
    h, w = fit_long_side(content_full.shape[0], content_full.shape[1], long_side)
    return resize(content_full, (h, w))


def _start_image(config: TransferConfig, content_np: np.ndarray, style_full: np.ndarray,
                 masks: MaskSet, generator: torch.Generator, device: torch.device
                 ) -> torch.Tensor:
    """The coarsest level's starting image ``(1, 3, h, w)`` (``config.init``)."""
    h, w = content_np.shape[:2]
    if config.init == "noise":
        return torch.rand((1, 3, h, w), generator=generator).to(device)
    if config.init == "transfer":
        style_np = resize(style_full, _style_size(style_full.shape[:2], h * w))
        return _to_tensor(region_colour_transfer(content_np, style_np, masks), device)
    return _to_tensor(content_np, device)


def _run_level(
    x0: torch.Tensor,
    problem: LevelProblem,
    config: TransferConfig,
    n_iter: int,
    on_step: Callable[[int, int, dict[str, float]], None],
    snapshot: Callable[[int, torch.Tensor], None] | None,
) -> LevelOutcome:
    current: dict[str, torch.Tensor] = {}
    weights = problem.weights
    if config.variable == "grid":
        weights = {**weights, "grid": config.grid_weight}

    def objective(x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        if config.variable != "grid":
            current["x"] = x
            return problem.objective(x)
        image = grid.render(x, problem.content, problem.regions, problem.blocks)
        current["x"] = image
        loss, terms = problem.objective(image)
        if config.grid_weight > 0:
            smoothness = grid.grid_smoothness(x, blocks=problem.blocks)
            terms["grid"] = float(smoothness.detach())
            loss = loss + config.grid_weight * smoothness
        return loss, terms

    def step(count: int, total: int, terms: dict[str, float]) -> None:
        on_step(count, total, terms)
        if snapshot is not None:
            snapshot(count, current["x"])

    return optimise_level(
        x0, objective, iterations=n_iter, optimizer=config.optimizer, lr=config.lr,
        history_size=config.lbfgs_history, patience=config.patience,
        restart=config.lbfgs_restart, bounds=config.bounds,
        precondition=(config.precondition_levels, config.precondition_boost), on_step=step,
        term_weights=weights, box=config.variable != "grid",
    )


def _check_level_sizes(
    shape: tuple[int, int], coarsest: int, layers: list[str], source: str,
    network: str = "vgg19",
) -> None:
    """Refuse levels too small for the deepest layer (each pooling halves the size)."""
    from photostyle.engine.layers import layer_index

    table = layer_index(network)
    deepest = max(layers, key=lambda n: table[n])
    pools = sum(1 for n, i in table.items() if n.startswith("pool") and i < table[deepest])
    need = 2**pools
    h, w = fit_long_side(shape[0], shape[1], coarsest)
    if min(h, w) < need:
        if min(shape) < need:  # no setting helps: photos are never enlarged
            raise ConfigError(
                f"content image {source} is {shape[1]}x{shape[0]} px: too small for layer "
                f"{deepest} (needs at least {need} px on the short side); use a larger image "
                "or shallower layers"
            )
        raise ConfigError(
            f"size: {source} is {shape[1]}x{shape[0]}; its coarsest level would be {w}x{h} "
            f"px, too small for layer {deepest} (needs at least {need} px on the short side); "
            "use a larger --size, fewer --scales or shallower layers"
        )


#: OpenCV's resize takes at most this many pixels a side (SHRT_MAX).
MAX_SIDE = 32767


def _check_output_size(size: tuple[int, int], max_pixels: int) -> None:
    """Refuse an output that cannot be made, before any work (``size = (h, w)``)."""
    from photostyle.files.images import pixel_count

    h, w = size
    if max(h, w) > MAX_SIDE:
        raise ConfigError(f"output_size: the output would be {w}x{h} px; at most {MAX_SIDE} px "
                          "a side can be written; use a smaller --output-size")
    if h * w > max_pixels:
        raise ConfigError(f"output_size: the output would be {w}x{h} = {pixel_count(h * w)}, "
                          f"over --max-pixels ({pixel_count(max_pixels)}); use a smaller "
                          "--output-size or raise --max-pixels")


def _snapshot_writer(
    folder: str | os.PathLike | None, every: int, level: int,
    watch: WatchCallback | None = None,
) -> Callable[[int, torch.Tensor], None] | None:
    """What is done with each evaluated image: snapshots every ``every`` evaluations to
    ``folder``, and ``watch`` on every one."""
    files = folder is not None and every > 0
    if not files and watch is None:
        return None
    path = Path(folder) if folder is not None else None

    def write(count: int, x: torch.Tensor) -> None:
        snap = files and path is not None and count % every == 0
        if watch is None and not snap:
            return
        image = _to_array(x.detach().clamp(0, 1))
        if watch is not None:
            watch(level, count, image)
        if snap and path is not None:
            path.mkdir(parents=True, exist_ok=True)
            save_image(image, path / f"level{level}-{count:05d}.png")

    return write


def _level_report(
    level: int, size: tuple[int, int], style_size: Any, outcome: LevelOutcome
) -> dict[str, Any]:
    final = {k: v[-1] for k, v in outcome.history.items()}
    return {
        "level": level,
        "size": list(size),
        "style_size": [int(s) for s in style_size],
        "evaluations": outcome.evaluations,
        "seconds": round(outcome.seconds, 4),
        "seconds_per_evaluation": round(outcome.seconds / max(outcome.evaluations, 1), 4),
        "best_loss": outcome.best_loss,
        "final": final,
        "history": outcome.history,
        "status": outcome.status,
    }
