"""Video: one look carried through a clip, without flicker.

Frames styled one by one flicker: each optimisation lands somewhere a little different.
The method's own output is a field of local affine colour transforms of the content
(:class:`~photostyle.transforms.Look`), which varies smoothly and moves with the scene. So
only **keyframes** are optimised (the first frame, and again where the scene cuts or the
content has drifted too far from the last keyframe); between them the keyframe's
transforms are carried from frame to frame along the content's optical flow (OpenCV's DIS
flow at the transforms' own resolution) and applied to each full-resolution frame. After a
drift keyframe the old and the new transforms are blended over a few frames, so that the
look does not jump; after a cut it changes at once, as the picture does.

Measures (:class:`FlickerMeter`): **flicker**, the mean colour difference between each
output frame and the previous output frame warped to it by the content's flow, on pixels
where the forward and backward flows agree, divided by the same quantity on the input clip
(1.0: no flicker added); **look fidelity**, each frame's colour distance to the style
(sliced Wasserstein in CIELAB), beside the keyframes'.

Files (:class:`VideoSource`, :class:`VideoSink`): any video FFmpeg reads (PyAV: ``pip
install -e ".[video]"``), or a folder of frames; out to H.264 (or ``codec``) with the frame
rate, frame count, size, audio stream and colour tags of the input, written under a
temporary name and renamed when whole; a folder of PNG frames likewise.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .batch import IMAGE_EXTENSIONS
from .config import TransferConfig
from .errors import ConfigError, InputError, OutputError
from .io import fit_long_side, load_image, to_uint8
from .smooth import scale_towards_identity

log = logging.getLogger(__name__)

#: Long side at which flow is measured for the flicker measure and keyframe decisions.
MEASURE_SIDE = 480
#: Largest frame accepted (width x height): 8K.
MAX_FRAME_PIXELS = 7680 * 4320


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
    """Apply ``(h, w, 12)`` transforms (:func:`look_coefficients`) to an 8-bit RGB frame
    ``(H, W, 3)`` uint8 (upsampled bilinearly): ``c + (A - I) c + b``, uint8.

    The video path of :func:`photostyle.smooth.apply_coefficients`, in float32 (8-bit
    frames need no more) and on planes rather than interleaved channels (OpenCV's
    vectorised arithmetic), about 17 ms for a 1280x720 frame on 2 cores.
    """
    big_h, big_w = frame.shape[:2]
    planes = [cv2.resize(np.ascontiguousarray(coefficients[..., i]), (big_w, big_h),
                         interpolation=cv2.INTER_LINEAR) for i in range(12)]
    c = [p.astype(np.float32) * np.float32(1 / 255) for p in cv2.split(frame)]
    out = []
    for k in range(3):
        o = cv2.add(c[k], planes[9 + k])
        for j in range(3):
            o = cv2.add(o, cv2.multiply(planes[3 * k + j], c[j]))
        out.append(o)
    merged = np.asarray(cv2.merge(out))
    np.maximum(merged, 0.0, out=merged)  # convertScaleAbs would mirror negatives
    return np.asarray(cv2.convertScaleAbs(merged, alpha=255.0))  # rounds, saturates


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
    from .metrics import sliced_quantiles, to_lab

    h, w = _fit(image.shape, LOOK_SIDE)
    small = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
    if image.dtype == np.uint8:
        small /= 255
    return sliced_quantiles(to_lab(small).reshape(-1, 3))


def look_distance(frame: np.ndarray, style: np.ndarray) -> float:
    """A frame's colour distance to the style: sliced Wasserstein in CIELAB between the
    whole frame and the whole style (``style``: its :func:`look_quantiles`)."""
    return float(np.abs(look_quantiles(frame) - style).mean())


# ------------------------------------------------------------------------------------------
# files


@dataclass
class ClipInfo:
    """What is known of a clip before it is read.

    Attributes:
        fps: frames per second (exact, as a fraction).
        frames: the frame count the container states (0: unknown).
        size: ``(h, w)``.
        colour: the video stream's colour tags (``colorspace``, ``color_range``,
            ``color_primaries``, ``color_trc``; FFmpeg's numbers).
        audio: whether there is an audio stream (copied to the output).
        codec: the input's video codec.
        time_base: the unit of the input's timestamps, in seconds.
    """

    fps: Fraction
    frames: int
    size: tuple[int, int]
    colour: dict[str, int] = field(default_factory=dict)
    audio: bool = False
    codec: str = ""
    time_base: Fraction = Fraction(1, 25)


#: FFmpeg's matrix codes (``AVColorSpace``) that PyAV's reformatter knows, by name.
_MATRICES = {1: "ITU709", 5: "ITU601", 6: "SMPTE170M", 7: "SMPTE240M", 9: "BT2020"}


def matrix_of(info: ClipInfo) -> int:
    """The YUV matrix of a clip (FFmpeg's code): its tag, or when untagged BT.709 from 720
    lines up and BT.601 (SMPTE 170M) below, as players assume."""
    space = info.colour.get("colorspace", 2)
    return space if space in _MATRICES else (1 if info.size[0] >= 720 else 6)


def _reformat_colour(info: ClipInfo) -> tuple[Any, Any]:
    """PyAV's ``(Colorspace, ColorRange)`` for converting a clip's frames to and from RGB."""
    from av.video.reformatter import ColorRange, Colorspace

    full = info.colour.get("color_range", 0) == 2
    return (Colorspace[_MATRICES[matrix_of(info)]],
            ColorRange.JPEG if full else ColorRange.MPEG)


def _needs_av() -> Any:
    try:
        import av
    except ImportError:
        raise ConfigError("video files need PyAV: pip install -e \".[video]\" (a folder of "
                          "frames works without it)") from None
    return av


class VideoSource:
    """Frames of a video file or of a folder of images, in order, as RGB uint8.

    Args:
        path: a video file FFmpeg reads, or a folder of frames (sorted by name).
        fps: frame rate of a folder of frames (a video's own is used for a file).
        max_pixels: largest frame accepted.

    Raises:
        InputError: not a video (a FIFO or a device is refused before it is opened), no
            video stream, no frames, or frames too large.
    """

    def __init__(self, path: str | os.PathLike, fps: float | None = None,
                 max_pixels: int = MAX_FRAME_PIXELS) -> None:
        from .paths import check_input_file

        self.path = Path(path)
        self.max_pixels = max_pixels
        self.error = ""  # why reading stopped early, if it did
        #: frames the file says it holds, and whether that is its count or an estimate
        #: from its duration (0: unknown)
        self.expected, self.expected_exact = 0, False
        if fps is not None and not (math.isfinite(fps) and fps > 0):
            raise ConfigError(f"--fps: must be a positive number, got {fps}")
        if self.path.is_dir():
            self.files = sorted(p for p in self.path.iterdir()
                                if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
            if not self.files:
                raise InputError(f"content frames {self.path}: the folder holds no image")
            first = load_image(self.files[0], max_pixels=max_pixels, what="frame")
            rate = Fraction(fps or 25).limit_denominator(1001)
            self.info = ClipInfo(rate, len(self.files), first.shape[:2],
                                 time_base=1 / rate)
            self.expected, self.expected_exact = len(self.files), True
            return
        check_input_file(self.path, "content video")
        self.files = []
        av = _needs_av()
        try:
            container = av.open(str(self.path))
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise InputError(f"content video {self.path}: not a video FFmpeg can read "
                             f"({_first_line(exc)})") from None
        with container:
            if not container.streams.video:
                raise InputError(f"content video {self.path}: it has no video stream")
            stream = container.streams.video[0]
            ctx = stream.codec_context
            h, w = int(ctx.height), int(ctx.width)
            if h * w > max_pixels:
                raise InputError(f"content video {self.path}: frames of {w}x{h} are over the "
                                 f"limit of {max_pixels:,} pixels")
            if h == 0 or w == 0:
                raise InputError(f"content video {self.path}: the video stream has no size")
            rate = Fraction(stream.average_rate or stream.guessed_rate or Fraction(25))
            colour = {k: int(getattr(ctx, k, 0) or 0)
                      for k in ("colorspace", "color_range", "color_primaries", "color_trc")}
            self.info = ClipInfo(rate, int(stream.frames or 0), (h, w), colour,
                                 bool(container.streams.audio), ctx.name,
                                 Fraction(stream.time_base) if stream.time_base else 1 / rate)
            if self.info.frames:
                self.expected, self.expected_exact = self.info.frames, True
            else:
                seconds = (float(stream.duration * stream.time_base) if stream.duration
                           and stream.time_base else (container.duration or 0) / 1e6)
                self.expected = round(seconds * float(rate))

    def frames(self) -> Iterator[np.ndarray]:
        """The frames ``(H, W, 3)`` uint8 RGB (see :meth:`timed_frames`)."""
        for _, frame in self.timed_frames():
            yield frame

    def timed_frames(self) -> Iterator[tuple[Fraction, np.ndarray]]:
        """``(time, frame)``: each frame's presentation time in seconds (the file's own
        timestamps, so a variable frame rate is kept; ``index / fps`` for a folder) and its
        pixels ``(H, W, 3)`` uint8 RGB. A stream corrupt in the middle, or one that ends
        before the frames its file states, ends the iteration (the frames so far stand)
        and sets :attr:`error`."""
        if self.files:
            for i, p in enumerate(self.files):
                frame = to_uint8(load_image(p, max_pixels=self.max_pixels, what="frame"))
                if frame.shape[:2] != self.info.size:
                    raise InputError(f"frame {p}: {frame.shape[1]}x{frame.shape[0]}, the "
                                     f"first frame is {self.info.size[1]}x{self.info.size[0]}")
                yield Fraction(i) / self.info.fps, frame
            return
        av = _needs_av()
        colorspace, rng = _reformat_colour(self.info)
        read = 0
        with av.open(str(self.path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            base = Fraction(stream.time_base) if stream.time_base else self.info.time_base
            last: Fraction | None = None
            try:
                for frame in container.decode(stream):
                    pts = frame.pts if frame.pts is not None else frame.dts
                    t = Fraction(pts) * base if pts is not None else Fraction(read) / (
                        self.info.fps)
                    if last is not None and t <= last:  # a broken or missing timestamp
                        t = last + 1 / self.info.fps
                    last = t
                    read += 1
                    yield t, frame.to_ndarray(format="rgb24", src_colorspace=colorspace,
                                              src_color_range=rng)
            except av.error.FFmpegError as exc:
                self.error = f"the video stream is corrupt ({_first_line(exc)})"
        if not self.error and self.expected and read < self.expected - (
                0 if self.expected_exact else 1):
            self.error = (f"the clip ends after {read} of the {self.expected} frames its file "
                          "states (it is cut short)")
        if self.error:
            log.warning("%s: %s; the frames read so far are kept", self.path, self.error)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class VideoSink:
    """Writes frames to a video file or a folder of PNG frames, whole or not at all.

    A file is written under a new temporary name in its folder and renamed by
    :meth:`close`; frames go into a new temporary folder beside the output, moved into
    place by :meth:`close` (the output folder may exist only if it is empty: nothing of
    the user's is ever deleted). :meth:`abort` removes only what the sink made. The video
    keeps the input's timestamps (so its frame rate, variable or not), size and colour
    tags, and gets its audio stream copied (no re-encoding).

    Args:
        path: the output (a video file by extension, or a folder for frames).
        info: the input's :class:`ClipInfo`.
        source: the input video (for its audio), or ``None``.
        codec: FFmpeg encoder (default H.264, ``libx264``).
        crf: quality for x264/x265/VP9 (lower is better; 18 is visually lossless).

    Raises:
        OutputError: the place cannot be written (every write failure later, a full disk
            among them, is an :class:`OutputError` naming the output too).
    """

    def __init__(self, path: str | os.PathLike, info: ClipInfo, source: Path | None = None,
                 codec: str = "libx264", crf: int = 18) -> None:
        self.path = Path(path)
        self.info = info
        self.count = 0
        self.folder = self.path.suffix == ""
        self.container: Any = None
        self.audio_in: Any = None
        self.audio_out: Any = None
        self.pending: Any = None
        self.end: Fraction | None = None  # the end of the last frame written, in seconds
        self.last_pts: int | None = None
        parent = self.path.parent if str(self.path.parent) else Path(".")
        try:
            parent.mkdir(parents=True, exist_ok=True)
            if self.folder:
                self.temp = Path(tempfile.mkdtemp(prefix=f".{self.path.name[:64]}.",
                                                  suffix=".partial", dir=parent))
                return
            fd, name = tempfile.mkstemp(prefix=f".{self.path.name[:64]}.",
                                        suffix=f".partial{self.path.suffix}", dir=parent)
            os.close(fd)
        except OSError as exc:
            raise OutputError(f"output {self.path}: cannot write here "
                              f"({exc.strerror or exc})") from None
        self.temp = Path(name)
        av = _needs_av()
        try:
            self.container = av.open(str(self.temp), "w")
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            self.temp.unlink(missing_ok=True)
            raise OutputError(f"output {self.path}: cannot write a video here "
                              f"({_first_line(exc)})") from None
        try:
            self.stream = self.container.add_stream(codec, rate=info.fps)
        except (av.error.FFmpegError, ValueError) as exc:
            self.container.close()
            self.temp.unlink(missing_ok=True)
            raise ConfigError(
                f"--codec {codec}: FFmpeg cannot write it into {self.path.name} "
                f"({_first_line(exc)}); for .webm use --codec libvpx-vp9") from None
        h, w = info.size
        self.stream.height, self.stream.width = h - h % 2, w - w % 2  # 4:2:0 needs even
        self.stream.pix_fmt = "yuv420p"
        # the input's own clock, so that every frame keeps its timestamp
        self.stream.time_base = info.time_base
        self.stream.codec_context.time_base = info.time_base
        if codec in ("libx264", "libx265", "libvpx-vp9", "libaom-av1"):
            self.stream.options = {"crf": str(crf)}
        ctx = self.stream.codec_context
        matrix = matrix_of(info)
        ctx.colorspace = matrix
        ctx.color_range = info.colour.get("color_range", 0) or 1
        ctx.color_primaries = info.colour.get("color_primaries", 0) or (1 if matrix == 1 else 6)
        ctx.color_trc = info.colour.get("color_trc", 0) or (1 if matrix == 1 else 6)
        self.colorspace, self.colour_range = _reformat_colour(info)
        if source is not None and info.audio:
            self.audio_in = av.open(str(source))
            audio = self.audio_in.streams.audio[0]
            try:
                self.audio_out = self.container.add_stream_from_template(audio)
                self.audio_packets = self.audio_in.demux(audio)
            except (av.error.FFmpegError, ValueError) as exc:
                log.warning("the audio stream cannot be copied (%s); written without sound",
                            _first_line(exc))
                self.audio_in.close()
                self.audio_in = None

    def _failed(self, exc: BaseException) -> OutputError:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else _first_line(exc)
        return OutputError(f"output {self.path}: cannot write ({reason})")

    def write(self, frame: np.ndarray, time: Fraction | None = None) -> None:
        """Append one ``(H, W, 3)`` uint8 RGB frame shown at ``time`` seconds (default: the
        next frame at the clip's rate).

        Raises:
            OutputError: the file cannot be written (a full disk ...).
        """
        if time is None:
            time = Fraction(self.count) / self.info.fps
        if self.folder:
            from .io import save_image

            try:
                save_image(frame.astype(np.float32) / 255, self.temp / f"{self.count:06d}.png")
            except OutputError as exc:  # named after the output, not the temporary folder
                cause = exc.__context__ if isinstance(exc.__context__, OSError) else exc
                raise self._failed(cause) from None
            self.count += 1
            return
        av = _needs_av()
        h, w = self.stream.height, self.stream.width
        rgb = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[:h, :w]), format="rgb24")
        yuv = rgb.reformat(format="yuv420p", dst_colorspace=self.colorspace,
                           dst_color_range=self.colour_range)
        base = self.info.time_base
        pts = round(time / base)
        if self.last_pts is not None and pts <= self.last_pts:
            pts = self.last_pts + 1  # timestamps must increase
        self.last_pts = pts
        yuv.pts = pts
        yuv.time_base = base
        try:
            for packet in self.stream.encode(yuv):
                self.container.mux(packet)
            self.count += 1
            self.end = pts * base + 1 / self.info.fps
            self._audio_until(self.end)
        except (av.error.FFmpegError, OSError) as exc:
            raise self._failed(exc) from None

    def _audio_until(self, seconds: float | Fraction | None) -> None:
        """Copy the audio packets up to ``seconds`` (all that is left: ``None``)."""
        if self.audio_in is None:
            return
        while True:
            packet = self.pending
            if packet is None:
                try:
                    packet = next(self.audio_packets)
                except (StopIteration, Exception):
                    self.audio_in.close()
                    self.audio_in = None
                    return
            if packet.dts is None:  # the demuxer's flush packet
                continue
            if seconds is not None and packet.pts is not None and (
                    packet.pts * packet.time_base > seconds):
                self.pending = packet
                return
            self.pending = None
            packet.stream = self.audio_out
            self.container.mux(packet)

    def close(self) -> Path:
        """Finish the file (the audio up to the last frame written) and rename it into
        place; returns the path.

        Raises:
            OutputError: the file cannot be finished; nothing is left behind.
        """
        try:
            if self.folder:
                return self._place_frames()
            av = _needs_av()
            try:
                for packet in self.stream.encode(None):
                    self.container.mux(packet)
                self._audio_until(self.end)
                if self.audio_in is not None:
                    self.audio_in.close()
                    self.audio_in = None
                self.container.close()
                self.container = None
                os.replace(self.temp, self.path)
            except (av.error.FFmpegError, OSError) as exc:
                raise self._failed(exc) from None
        except BaseException:
            self.abort()
            raise
        return self.path

    def _place_frames(self) -> Path:
        """Move the frames into the output folder: the temporary folder renamed when the
        output does not exist; into it, frame by frame, when it is an empty folder."""
        try:
            if not self.path.exists():
                os.rename(self.temp, self.path)
                return self.path
            if not self.path.is_dir() or any(True for _ in os.scandir(self.path)):
                raise OutputError(f"output {self.path}: appeared while the frames were made "
                                  "and is not an empty folder; the frames are not written")
            for p in sorted(self.temp.iterdir()):
                os.replace(p, self.path / p.name)
            self.temp.rmdir()
        except OSError as exc:
            raise self._failed(exc) from None
        return self.path

    def abort(self) -> None:
        """Remove what the sink made (its temporary file or folder), nothing else."""
        try:
            if self.audio_in is not None:
                self.audio_in.close()
            if self.container is not None:
                self.container.close()
        except Exception:  # closing a half-written file may fail; it is removed anyway
            pass
        self.audio_in = self.container = None
        if self.folder:
            shutil.rmtree(self.temp, ignore_errors=True)
        else:
            self.temp.unlink(missing_ok=True)


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
        keyframe: the first keyframe's :class:`~photostyle.pipeline.TransferResult` (its
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
    from .features import load_extractor
    from .pipeline import resolve_device, transfer

    options = options or VideoOptions()
    policy = options.policy
    style_rgb = load_image(style, max_pixels=config.max_pixels, what="style image")
    style_quantiles = look_quantiles(style_rgb)
    mask_files = keyframe_mask_files(options.keyframe_masks) if options.keyframe_masks else {}
    if any(config.iterations_per_level()) and extractor is None:
        extractor = load_extractor(config.layers_in_use(), config.vgg_weights,
                                   seed=config.seed, device=resolve_device(config.device),
                                   network=config.network)
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
            if options.method == "frames":
                output = to_uint8(optimise(frame, index, "every frame").image)
                is_key = True
            else:
                small = gray = None
                if propagator is not None:  # the frame at the transforms' size, once
                    small = _resize(frame, propagator.gray.shape)
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
                        gray = _gray(frame, coefficients.shape[:2])
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
                meter.add(frame, output)
                distances.append(look_distance(output, style_quantiles))
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


def _fit(shape: tuple[int, ...], side: int) -> tuple[int, int]:
    return fit_long_side(int(shape[0]), int(shape[1]), min(side, max(shape[:2])))


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
