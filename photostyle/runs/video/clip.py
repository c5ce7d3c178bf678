"""Clip files: reading frames with their timestamps, writing a clip or a folder of frames whole."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from photostyle.errors import ConfigError, InputError, OutputError
from photostyle.files.images import IMAGE_EXTENSIONS, load_image, to_uint8

log = logging.getLogger(__name__)

#: Largest frame accepted (width x height): 8K.
MAX_FRAME_PIXELS = 7680 * 4320


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
        bit_depth: bits per sample of the video stream (8, or 10 and 12 for HEVC Main10,
            ProRes ...): above 8 its frames are read and written as 16-bit RGB.
    """

    fps: Fraction
    frames: int
    size: tuple[int, int]
    colour: dict[str, int] = field(default_factory=dict)
    audio: bool = False
    codec: str = ""
    time_base: Fraction = Fraction(1, 25)
    bit_depth: int = 8


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
        from photostyle.files.paths import check_input_file

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
                                 Fraction(stream.time_base) if stream.time_base else 1 / rate,
                                 _bits(ctx))
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
        pixels ``(H, W, 3)`` RGB: uint8, or uint16 (0-65535) for a clip of more than 8 bits.
        A stream corrupt in the middle, or one that ends
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
        rgb = "rgb48le" if self.info.bit_depth > 8 else "rgb24"  # uint16 or uint8 RGB
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
                    yield t, frame.to_ndarray(format=rgb, src_colorspace=colorspace,
                                              src_color_range=rng)
            except av.error.FFmpegError as exc:
                self.error = f"the video stream is corrupt ({_first_line(exc)})"
        if not self.error and self.expected and read < self.expected - (
                0 if self.expected_exact else 1):
            self.error = (f"the clip ends after {read} of the {self.expected} frames its file "
                          "states (it is cut short)")
        if self.error:
            log.warning("%s: %s; the frames read so far are kept", self.path, self.error)


def _bits(ctx: Any) -> int:
    """Bits per sample of a decoder's pixel format (8 when unknown)."""
    try:
        return max(8, max(int(c.bits) for c in ctx.format.components))
    except (AttributeError, TypeError, ValueError):
        return 8


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


#: Encoders that write 10 bits per sample, and the pixel format they get.
TEN_BIT_FORMATS = {"libx265": "yuv420p10le", "hevc": "yuv420p10le",
                   "libx264": "yuv420p10le", "prores_ks": "yuv422p10le",
                   "prores": "yuv422p10le", "libaom-av1": "yuv420p10le",
                   "libvpx-vp9": "yuv420p10le"}


def pixel_format(codec: str, bit_depth: int) -> str:
    """The pixel format a clip of ``bit_depth`` bits is encoded in by ``codec``: 8-bit 4:2:0,
    or 10 bits (4:2:2 for ProRes, which has no 8-bit or 4:2:0 form) for deeper clips."""
    if codec in ("prores_ks", "prores"):
        return "yuv422p10le"
    return TEN_BIT_FORMATS.get(codec, "yuv420p") if bit_depth > 8 else "yuv420p"


def default_codec(bit_depth: int) -> str:
    """The encoder of ``--codec``'s default: H.264 for 8-bit clips, HEVC Main10 above."""
    return "libx265" if bit_depth > 8 else "libx264"


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
        #: folders made for the output, deepest first (removed again by abort when empty)
        self.made: list[Path] = [p for p in (parent, *parent.parents) if not p.exists()]
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
        self.stream.pix_fmt = pixel_format(codec, info.bit_depth)
        if codec in ("libx265", "hevc") and self.path.suffix.lower() in (".mp4", ".mov",
                                                                         ".m4v"):
            self.stream.codec_tag = "hvc1"  # what Apple's players want of HEVC
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
        """Append one ``(H, W, 3)`` RGB frame (uint8, or uint16 for a clip of more than 8
        bits: written as 10 bits, or as 16-bit PNG frames) shown at ``time`` seconds
        (default: the next frame at the clip's rate).

        Raises:
            OutputError: the file cannot be written (a full disk ...).
        """
        if time is None:
            time = Fraction(self.count) / self.info.fps
        if self.folder:
            from photostyle.files.writers import save_image

            try:
                sixteen = frame.dtype == np.uint16
                save_image(frame.astype(np.float32) / (65535 if sixteen else 255),
                           self.temp / f"{self.count:06d}.png", bit_depth=16 if sixteen else 8)
            except OutputError as exc:  # named after the output, not the temporary folder
                cause = exc.__context__ if isinstance(exc.__context__, OSError) else exc
                raise self._failed(cause) from None
            self.count += 1
            return
        av = _needs_av()
        h, w = self.stream.height, self.stream.width
        rgb = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[:h, :w]),
                                         format="rgb48le" if frame.dtype == np.uint16
                                         else "rgb24")
        yuv = rgb.reformat(format=self.stream.pix_fmt, dst_colorspace=self.colorspace,
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
        """Remove what the sink made (its temporary file or folder, and the folders it made
        for the output while they are empty), nothing else."""
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
        for folder in self.made:  # the folders made for it, if nothing else came into them
            with contextlib.suppress(OSError):
                folder.rmdir()
