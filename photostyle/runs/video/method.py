"""The method: keyframes optimised by the image pipeline, their transforms carried along the
content's flow to the other frames (see :mod:`photostyle.runs.video`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from photostyle.engine.config import TransferConfig
from photostyle.engine.smooth import scale_towards_identity
from photostyle.errors import ConfigError, InputError
from photostyle.files.images import IMAGE_EXTENSIONS, load_image, to_uint8
from photostyle.runs.video.clip import VideoSink, VideoSource
from photostyle.runs.video.flicker import FlickerMeter, _round, look_distance, look_quantiles
from photostyle.runs.video.flow import Flow, _gray, _resize, _warp, consistent

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------
# the method


@dataclass(frozen=True)
class KeyframePolicy:
    """When a new keyframe is optimised.

    Attributes:
        drift: a new keyframe once this share of the frame can no longer be traced back to
            the last keyframe (new content entering, occlusions), 0-1.
        cut: a scene cut when the mean absolute difference of two consecutive frames (grey,
            at the transforms' size, in [0, 1]) exceeds this, or when fewer than half of
            the pixels have consistent flow.
        max_gap: a new keyframe at the latest after this many frames (0: never).
        blend: frames over which a drift keyframe's transforms replace the old ones.
    """

    drift: float = 0.35
    cut: float = 0.12
    max_gap: int = 0
    blend: int = 8

    def __post_init__(self) -> None:
        if not 0.0 < self.drift <= 1.0:
            raise ConfigError(f"drift: must be in (0, 1], got {self.drift}")
        if not 0.0 < self.cut <= 1.0:
            raise ConfigError(f"cut: must be in (0, 1], got {self.cut}")
        if self.max_gap < 0 or self.blend < 0:
            raise ConfigError("max_gap and blend: must be 0 or more")


def look_coefficients(a: np.ndarray, b: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """A look's ``A`` ``(h, w, 3, 3)`` and ``b`` ``(h, w, 3)`` as one ``(h, w, 12)`` float32
    map, ``A - I`` then ``b``, scaled to ``strength`` (what is carried along the flow)."""
    if strength != 1.0:
        a, b = scale_towards_identity(a, b, strength)
    h, w = a.shape[:2]
    change = (a - np.eye(3, dtype=a.dtype)).reshape(h, w, 9)
    return np.concatenate([change, b], axis=2).astype(np.float32)


def apply_to_frame(coefficients: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """Apply ``(h, w, 12)`` transforms (:func:`look_coefficients`) to an RGB frame
    ``(H, W, 3)`` uint8 or uint16 (upsampled bilinearly): ``c + (A - I) c + b``, in float32,
    returned in the frame's own type (rounded, saturated).

    The video path of :func:`photostyle.engine.smooth.apply_coefficients`, in float32 (8-bit
    frames need no more) and on planes rather than interleaved channels (OpenCV's
    vectorised arithmetic), about 17 ms for a 1280x720 frame on 2 cores.
    """
    big_h, big_w = frame.shape[:2]
    planes = [cv2.resize(np.ascontiguousarray(coefficients[..., i]), (big_w, big_h),
                         interpolation=cv2.INTER_LINEAR) for i in range(12)]
    top = 65535.0 if frame.dtype == np.uint16 else 255.0
    c = [p.astype(np.float32) * np.float32(1 / top) for p in cv2.split(frame)]
    out = []
    for k in range(3):
        o = cv2.add(c[k], planes[9 + k])
        for j in range(3):
            o = cv2.add(o, cv2.multiply(planes[3 * k + j], c[j]))
        out.append(o)
    merged = np.asarray(cv2.merge(out))
    np.maximum(merged, 0.0, out=merged)  # convertScaleAbs would mirror negatives
    if frame.dtype == np.uint16:
        return (np.minimum(merged, 1.0) * 65535.0 + 0.5).astype(np.uint16)
    return np.asarray(cv2.convertScaleAbs(merged, alpha=255.0))  # rounds, saturates


def eight_bits(frame: np.ndarray) -> np.ndarray:
    """A frame as uint8 (for the flow, the cut test and the measures, which need no more)."""
    if frame.dtype == np.uint8:
        return frame
    return (frame.astype(np.uint32) * 255 + 32767) // 65535  # type: ignore[no-any-return]


class Propagator:
    """Carries a keyframe's transforms from frame to frame along the content's flow.

    Args:
        coefficients: ``(h, w, 12)`` transforms of the keyframe (:func:`look_coefficients`).
        gray: the keyframe at the transforms' size, grey uint8 ``(h, w)``.
    """

    def __init__(self, coefficients: np.ndarray, gray: np.ndarray) -> None:
        self.coefficients = coefficients
        self.gray = gray
        self.traced = np.ones(gray.shape, np.float32)  # share traceable to the keyframe
        self.flow = Flow()

    def advance(self, gray: np.ndarray, colour: np.ndarray | None = None) -> np.ndarray:
        """Move to the next frame (grey at the transforms' size); returns its pixels whose
        flow back to the previous frame is consistent (``(h, w)`` bool).

        With ``colour`` (the frame at the transforms' size, RGB uint8), the pixels without
        a consistent flow (content entering the frame, disoccluded) take the transforms of
        the pixels of similar colour (:func:`fill_by_colour`) instead of those of their
        neighbours at the border: a hill entering from the side looks like the hill.
        """
        backward = self.flow(gray, self.gray)  # this frame to the previous one
        forward = self.flow(self.gray, gray)
        ok = consistent(forward, backward)
        self.coefficients = _warp(self.coefficients, backward)
        if colour is not None:
            self.coefficients = fill_by_colour(self.coefficients, colour, ok)
        self.traced = _warp(self.traced, backward) * ok
        self.gray = gray
        return ok

    def drift(self) -> float:
        """Share of the frame not traceable to the keyframe (0: all of it is)."""
        return float(1.0 - self.traced.mean())


def fill_by_colour(coefficients: np.ndarray, colour: np.ndarray, known: np.ndarray,
                   levels: int = 8, least: int = 4) -> np.ndarray:
    """Transforms for the pixels not ``known``: the mean transforms of the known pixels in
    the same colour cell (``levels`` per channel); pixels whose cell has fewer than
    ``least`` known pixels keep theirs.

    Args:
        coefficients: ``(h, w, C)`` float32; colour: ``(h, w, 3)`` uint8; known: ``(h, w)``
            bool.
    """
    fill = ~known
    if not fill.any() or known.sum() < least:
        return coefficients
    cells = (colour.astype(np.int32) * levels) // 256
    index = (cells[..., 0] * levels + cells[..., 1]) * levels + cells[..., 2]
    source, target = index[known], index[fill]
    count = np.bincount(source, minlength=levels**3)
    usable = count[target] >= least
    if not usable.any():
        return coefficients
    out = coefficients.copy()
    for ch in range(coefficients.shape[2]):
        mean = np.bincount(source, weights=coefficients[..., ch][known],
                           minlength=levels**3) / np.maximum(count, 1)
        values = out[..., ch][fill]
        values[usable] = mean[target[usable]]
        out[..., ch][fill] = values
    return out


# ------------------------------------------------------------------------------------------
# the measures


# ------------------------------------------------------------------------------------------
# files


# ------------------------------------------------------------------------------------------
# the clip


@dataclass
class VideoOptions:
    """How a clip is styled.

    Attributes:
        method: ``"propagate"`` (keyframes, transforms carried along the flow) or
            ``"frames"`` (every frame optimised by the image pipeline: the baseline).
        policy: when keyframes are made.
        keyframe_masks: a folder of content masks named by frame number (``0.png``,
            ``120.png``); then the keyframes are exactly those frames.
        style_mask: the style's mask (with ``keyframe_masks``).
        measure: compute the flicker and look measures.
    """

    method: str = "propagate"
    policy: KeyframePolicy = field(default_factory=KeyframePolicy)
    keyframe_masks: Path | None = None
    style_mask: Path | None = None
    measure: bool = True

    def __post_init__(self) -> None:
        if self.method not in ("propagate", "frames"):
            raise ConfigError(f"method: must be propagate or frames, got {self.method!r}")
        if (self.keyframe_masks is None) != (self.style_mask is None):
            raise ConfigError("--keyframe-masks and --style-mask go together")


def keyframe_mask_files(folder: Path) -> dict[int, Path]:
    """The mask files of a ``--keyframe-masks`` folder by frame number.

    Raises:
        InputError: not a folder, or no mask of frame 0.
    """
    if not folder.is_dir():
        raise InputError(f"keyframe masks {folder}: not a folder")
    files: dict[int, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() in IMAGE_EXTENSIONS and p.stem.isdigit():
            files[int(p.stem)] = p
    if 0 not in files:
        raise InputError(f"keyframe masks {folder}: needs a mask of the first frame, named "
                         "0.png (frames are numbered from 0)")
    return files


@dataclass
class ClipOutcome:
    """What :func:`stylise_clip` made.

    Attributes:
        report: JSON-ready record (see :func:`stylise_clip`).
        keyframe: the first keyframe's :class:`~photostyle.engine.pipeline.TransferResult` (its
            look is the clip's, e.g. for a LUT), and ``keyframe_frame`` its frame.
    """

    report: dict[str, Any]
    keyframe: Any = None
    keyframe_frame: np.ndarray | None = None


#: ``progress(frame_index, frames_total_or_0, keyframe: bool)``
FrameProgress = Callable[[int, int, bool], None]


def stylise_clip(
    source: VideoSource,
    style: Any,
    sink: VideoSink,
    config: TransferConfig,
    options: VideoOptions | None = None,
    *,
    extractor: Any = None,
    progress: FrameProgress | None = None,
) -> ClipOutcome:
    """Style every frame of ``source`` with ``style``'s look and write them to ``sink``.

    Args:
        source, sink: the clip in and out (the sink is left open: the caller closes it, or
            aborts it when nothing was written).
        style: the style photo (path, PIL image or array).
        config: the transfer's settings (each keyframe is a :func:`transfer`).
        options: the method and keyframe policy.
        extractor: a loaded network to reuse.
        progress: called after each frame.

    Returns:
        A :class:`ClipOutcome` whose report holds the frames, keyframes (with their
        reasons), timings (keyframes and the other frames apart, frames per second), the
        measures, and ``status`` (``completed``; ``interrupted`` by Ctrl-C or
        ``truncated`` by a corrupt stream: the frames written so far stand).
    """
    from photostyle.engine.network import network_for
    from photostyle.engine.pipeline import transfer

    options = options or VideoOptions()
    policy = options.policy
    style_rgb = load_image(style, max_pixels=config.max_pixels, what="style image")
    style_quantiles = look_quantiles(style_rgb)
    mask_files = keyframe_mask_files(options.keyframe_masks) if options.keyframe_masks else {}
    if any(config.iterations_per_level()) and extractor is None:
        extractor = network_for(config)
    cache: dict[Any, Any] = {}
    meter = FlickerMeter() if options.measure else None
    keyframes: list[dict[str, Any]] = []
    distances: list[float] = []
    key_seconds = other_seconds = 0.0
    others = 0
    status, message = "completed", ""
    propagator: Propagator | None = None
    fading: tuple[Propagator, int] | None = None  # the old transforms, frames left
    total = source.info.frames
    index = -1
    written = 0  # frames written (an interrupt may come between reading and writing one)
    last_key = 0
    first_look: Any = None
    first_frame: np.ndarray | None = None

    def optimise(frame: np.ndarray, i: int, reason: str) -> Any:
        """A keyframe: the image pipeline on it (recorded in the report)."""
        nonlocal first_look, first_frame
        started = time.perf_counter()
        masks: dict[str, Any] = {}
        if i in mask_files:
            masks = {"content_mask": mask_files[i], "style_mask": options.style_mask}
        result = transfer(frame, style_rgb, config, extractor=extractor, cache=cache,
                          **masks)
        if result.status == "interrupted":
            raise KeyboardInterrupt
        if first_look is None:
            first_look, first_frame = result, frame
        keyframes.append({"frame": i, "reason": reason,
                          "seconds": round(time.perf_counter() - started, 2),
                          "status": result.status})
        return result

    started = time.perf_counter()  # each frame's time includes its decoding
    try:
        for when, frame in source.timed_frames():
            index += 1
            is_key = False
            frame8 = eight_bits(frame).astype(np.uint8, copy=False)
            if options.method == "frames":
                image = optimise(frame, index, "every frame").image
                output = (to_uint8(image) if frame.dtype == np.uint8 else
                          (np.clip(image, 0, 1) * 65535 + 0.5).astype(np.uint16))
                is_key = True
            else:
                small = gray = None
                if propagator is not None:  # the frame at the transforms' size, once
                    small = _resize(frame8, propagator.gray.shape)
                    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
                reason = _keyframe_reason(index, propagator, gray, policy, mask_files)
                if reason is None and propagator is not None:
                    assert gray is not None
                    ok = propagator.advance(gray, small)
                    if fading is not None:
                        fading[0].advance(gray, small)
                    if mask_files:
                        pass  # the keyframes are the frames with masks
                    elif ok.mean() < 0.5 or propagator.drift() > policy.drift:
                        reason = "cut" if ok.mean() < 0.5 else "drift"
                    elif policy.max_gap and index - last_key >= policy.max_gap:
                        reason = "gap"
                if reason is not None:
                    result = optimise(frame, index, reason)
                    if result.look is None:
                        raise InputError(f"frame {index}: the transfer gave no transforms "
                                         f"({result.message})")
                    coefficients = look_coefficients(result.look.a, result.look.b,
                                                     config.strength)
                    if gray is None or gray.shape != coefficients.shape[:2]:
                        gray = _gray(frame8, coefficients.shape[:2])
                    if propagator is not None and reason in ("drift", "gap") and (
                            policy.blend > 0 and propagator.gray.shape == gray.shape):
                        fading = (propagator, policy.blend)
                    else:
                        fading = None
                    propagator = Propagator(coefficients, gray)
                    last_key, is_key = index, True
                assert propagator is not None
                coefficients = propagator.coefficients
                if fading is not None:
                    old, left = fading
                    w = left / (policy.blend + 1)
                    coefficients = (1 - w) * coefficients + w * old.coefficients
                    fading = (old, left - 1) if left > 1 else None
                output = apply_to_frame(coefficients, frame)
            sink.write(output, when)
            written += 1
            seconds = time.perf_counter() - started
            if is_key:
                key_seconds += seconds
            else:
                other_seconds += seconds
                others += 1
            if meter is not None:
                output8 = eight_bits(output).astype(np.uint8, copy=False)
                meter.add(frame8, output8)
                distances.append(look_distance(output8, style_quantiles))
            if progress is not None:
                progress(index, total, is_key)
            started = time.perf_counter()  # the measures are not the method's time
    except KeyboardInterrupt:
        status, message = "interrupted", "interrupted by the user; the frames done are kept"
    if index < 0 and status == "completed":
        raise InputError(f"content video {source.path}: it holds no frame"
                         + (f" ({source.error})" if source.error else ""))
    if source.error and status == "completed":
        status, message = "truncated", f"{source.error}; the {written} frames read are kept"
    key_frames = {k["frame"] for k in keyframes}
    report: dict[str, Any] = {
        "status": status, "message": message, "method": options.method,
        "frames": written, "frames_stated": source.expected, "fps": str(source.info.fps),
        "size": list(source.info.size), "keyframes": keyframes,
        "policy": vars(policy) if options.method == "propagate" else None,
        "seconds": {"keyframes": round(key_seconds, 2), "other_frames": round(other_seconds, 2),
                    "other_frames_per_second": _round(others / other_seconds, 2)
                    if other_seconds > 0 else None},
        "settings": config.to_dict(),
    }
    if meter is not None:
        report["flicker"] = meter.summary()
        report["look"] = {
            "style_distance_mean": _round(float(np.mean(distances))) if distances else None,
            "style_distance_keyframes": _round(float(np.mean(
                [d for i, d in enumerate(distances) if i in key_frames]))) if key_frames
            and distances else None,
            "per_frame": [round(d, 3) for d in distances]}
    return ClipOutcome(report, first_look, first_frame)


def _keyframe_reason(index: int, propagator: Propagator | None, gray: np.ndarray | None,
                     policy: KeyframePolicy, mask_files: dict[int, Path]) -> str | None:
    """Why frame ``index`` (``gray``: grey at the transforms' size) must be a keyframe
    before any flow is computed, or ``None``."""
    if propagator is None or gray is None:
        return "first"
    if mask_files:
        return "mask" if index in mask_files else None
    if np.abs(gray.astype(np.float32) - propagator.gray).mean() / 255 > policy.cut:
        return "cut"
    return None
