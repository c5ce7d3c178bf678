"""The web app's work, without the web: uploads, masks, transfer jobs, strength, downloads.

One :class:`Studio` serves every browser session of a running app. It holds the engine
(one :class:`~photostyle.runs.executors.WorkerState` per worker: the network is loaded once and
its caches are reused, as in batches) and one :class:`Session` per browser tab, keyed by
the page's session id. Every page handler calls one method here; nothing here knows about
the web framework, so the handlers are tested as plain functions.

Files: the studio keeps everything under one private temporary folder (mode 0700), removed
by :meth:`Studio.close`; each session has its own folder in it, removed when the tab closes.
No name a user supplies is used for a file: downloads are ``photostyle-<n>.<ext>``.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from photostyle.app.security import UPLOADS
from photostyle.engine.config import TransferConfig, preset_config
from photostyle.engine.masks import PALETTE, LabelMap, MaskSet, read_mask
from photostyle.engine.pipeline import TransferResult, apply_look, transfer
from photostyle.engine.smooth import render_plain
from photostyle.errors import InputError, PhotostyleError, describe
from photostyle.files import heif
from photostyle.files.images import Photo, fit_long_side, read_photo, resize, to_uint8
from photostyle.files.metadata import Metadata, read_metadata
from photostyle.files.writers import SIXTEEN_BIT_FORMATS, WRITE_FORMATS
from photostyle.runs.executors import WorkerState

log = logging.getLogger(__name__)

#: Long side of the images shown on the page (and painted on).
DISPLAY_SIDE = 1024
#: The name of the label that unpainted pixels take when a photo has been painted.
UNPAINTED = "unpainted"
#: Mask sources the page offers.
MASK_MODES = ("whole", "auto", "paint", "files")
#: Opacity of the automatic regions when they are put on the editors to correct.
AUTO_LAYER_ALPHA = 160
#: Presets the page offers for the full run (``preview`` has its own button).
RUN_PRESETS = ("default", "strong", "quality", "paper")
#: What the page's settings list says of each preset.
PRESET_LABELS = {
    "default": "default (verified, about 20 s on 2 CPU cores)",
    "strong": "strong (further into the style, about 35 s; more blotches on some photos)",
    "quality": "quality (512-px working size, 80 + 40 steps, about 3x the time)",
    "paper": "paper (the paper's layers and 1000 iterations: needs the full VGG19, a "
             "548 MB download on first use; slow)",
}
#: Download formats: label -> extension.
FORMATS = {"JPEG": ".jpg", "PNG": ".png", "TIFF": ".tif", "WebP": ".webp", "AVIF": ".avif"}
if heif.available():  # the heif extra (pillow-heif) is installed
    FORMATS["HEIC"] = ".heic"
#: Seconds between two images sent to the page while a run improves.
IMAGE_INTERVAL = 1.0
#: Seconds between two progress updates sent to the page.
UPDATE_INTERVAL = 1.0


@dataclass(frozen=True)
class Limits:
    """What an upload may be.

    Attributes:
        max_upload_bytes: largest file accepted (the server refuses larger requests too).
        max_pixels: largest image opened (width x height), before decoding it whole.
    """

    max_upload_bytes: int = 100 * 2**20
    max_pixels: int = 100_000_000


@dataclass
class Upload:
    """A photo as uploaded.

    Attributes:
        photo: the pixels in the file's own encoding, its profile and bit depth.
        path: where the upload lies (the server's upload folder).
        name: the user's file name, for messages only.
    """

    photo: Photo
    path: Path
    name: str

    @functools.cached_property
    def display(self) -> np.ndarray:
        """``(h, w, 3)`` uint8 sRGB, long side at most :data:`DISPLAY_SIDE`."""
        size = display_size(self.photo.pixels.shape)
        return to_uint8(self.srgb if size == self.srgb.shape[:2] else resize(self.srgb, size))

    @functools.cached_property
    def srgb(self) -> np.ndarray:
        """The photo in sRGB, ``(H, W, 3)`` float32 (converted once: a style is used by
        every run of its session)."""
        return self.photo.srgb()

    def describe(self) -> str:
        h, w = self.photo.pixels.shape[:2]
        return f"{self.name}: {w}x{h} px, {self.photo.bit_depth}-bit, {self.photo.colour}"

    def display_float(self) -> np.ndarray:
        """The display image as ``(h, w, 3)`` float32 in [0, 1]."""
        return self.display.astype(np.float32) / 255.0


@dataclass
class MaskChoice:
    """Where the masks come from (the page's mask controls).

    Attributes:
        mode: one of :data:`MASK_MODES`: ``whole`` (each photo as one region), ``auto``
            (automatic segmentation), ``paint`` (painted on the page), ``files``.
        content_file, style_file: uploaded mask files (``files``).
        content_paint, style_paint: the image editors' values (``paint``): dictionaries
            with ``layers``, a list of ``(h, w, 4)`` uint8 RGBA arrays at the display size.
    """

    mode: str = "whole"
    content_file: str | None = None
    style_file: str | None = None
    content_paint: Any = None
    style_paint: Any = None


@dataclass
class Update:
    """What a running job sends to the page.

    Attributes:
        text: progress or outcome, one line of Markdown.
        image: the image as it improves, ``(h, w, 3)`` uint8 sRGB, or ``None``.
        done: the job has ended (``result`` holds its outcome, if it has one).
        result: ``(content, result)`` display images (uint8) for the before/after slider.
    """

    text: str
    image: np.ndarray | None = None
    done: bool = False
    result: tuple[np.ndarray, np.ndarray] | None = None


@dataclass
class Session:
    """One browser tab's photos, masks and results (kept until the tab closes)."""

    key: str
    folder: Path
    content: Upload | None = None
    style: Upload | None = None
    result: TransferResult | None = None
    masks: tuple[LabelMap | None, LabelMap | None, str] = (None, None, "none")
    cancel: threading.Event = field(default_factory=threading.Event)
    closed: bool = False
    running: bool = False
    downloads: int = 0
    look: Any = None  # the saved look whose style photo is the style (runs.looks.StoredLook)


def sanitise_message(text: str, upload: Path | str | None, name: str) -> str:
    """``text`` with the server's path of an upload replaced by the user's file name."""
    if upload is None:
        return text
    for form in (str(upload), os.fspath(Path(upload).resolve())):
        text = text.replace(form, name)
    return text


def display_size(shape: tuple[int, ...]) -> tuple[int, int]:
    """``(h, w)`` of the display version of an image of ``shape``."""
    h, w = int(shape[0]), int(shape[1])
    if max(h, w) <= DISPLAY_SIDE:
        return h, w
    return fit_long_side(h, w, DISPLAY_SIDE)


def read_upload(path: str | os.PathLike, what: str, limits: Limits,
                name: str | None = None) -> Upload:
    """Read an uploaded photo (any file the command line reads: profiles and 16 bits kept).

    Args:
        path: the uploaded file.
        what: ``"content photo"`` or ``"style photo"`` (for messages).
        limits: the upload limits.
        name: the user's file name (default: the file's own), used in messages only.

    Raises:
        InputError: too large, not an image, over the pixel limit, or broken; the message
            names the user's file and the problem.
    """
    path = Path(path)
    name = name or path.name
    check_upload_size(path, what, name, limits)
    try:
        photo = read_photo(path, max_pixels=limits.max_pixels, what=what)
        upload = Upload(photo, path, name)
        upload.display  # noqa: B018  (converted now: a broken profile fails here)
    except PhotostyleError as exc:
        raise InputError(sanitise_message(str(exc), path, name)) from exc
    except MemoryError as exc:
        raise InputError(f"{what} {name}: out of memory while decoding it") from exc
    return upload


def check_upload_size(path: Path, what: str, name: str, limits: Limits) -> None:
    """Refuse an uploaded file that is unreadable, empty or over the size limit.

    Raises:
        InputError: naming the user's file (``name``) and the problem.
    """
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"{what} {name}: the upload cannot be read ({exc.strerror})") from exc
    if size > limits.max_upload_bytes:
        raise InputError(f"{what} {name}: {size / 2**20:.1f} MB is over the upload limit of "
                         f"{limits.max_upload_bytes / 2**20:.0f} MB")
    if size == 0:
        raise InputError(f"{what} {name}: the file is empty")


#: Largest image an editor sends (its layers are painted at the display size; a little
#: room for the editor's own rounding).
EDITOR_MAX_PIXELS = (2 * DISPLAY_SIDE + 2) ** 2


def check_editor_image(source: str | os.PathLike | bytes | bytearray | memoryview,
                       limits: Limits, what: str = "painting") -> None:
    """Refuse an image an editor sent (a layer, its background or composite) that is over
    the upload size or far larger than any photo shown, from its header, before anything
    decodes it (a PNG of a few hundred kilobytes may hold 12000 x 12000 pixels).

    Args:
        source: the file Gradio received, or its bytes.
        limits: the upload limits (its byte limit applies).

    Raises:
        InputError: too large, or not an image.
    """
    import io as bytes_io
    import warnings

    from PIL import Image, UnidentifiedImageError

    size = len(source) if isinstance(source, bytes | bytearray | memoryview) else (
        Path(source).stat().st_size)
    if size > limits.max_upload_bytes:
        raise InputError(f"{what}: {size / 2**20:.1f} MB is over the upload limit of "
                         f"{limits.max_upload_bytes / 2**20:.0f} MB")
    opened: Any = bytes_io.BytesIO(bytes(source)) if isinstance(
        source, bytes | bytearray | memoryview) else source
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(opened) as image:  # the header only
                w, h = image.size
    except (Image.DecompressionBombError, UnidentifiedImageError, OSError, ValueError,
            SyntaxError) as exc:
        raise InputError(f"{what}: not an image the page made ({exc})") from None
    limit = min(EDITOR_MAX_PIXELS, limits.max_pixels)
    if w * h > limit:
        raise InputError(f"{what}: {w}x{h} px, larger than any photo the page shows; paint "
                         "on the page's editor")


def _shown(upload: Upload | None) -> tuple[int, int] | None:
    return None if upload is None else (int(upload.display.shape[0]),
                                         int(upload.display.shape[1]))


def painted_labels(value: Any, what: str, shown: tuple[int, int] | None = None
                   ) -> LabelMap | None:
    """The label map painted on an image editor, or ``None`` when nothing is painted.

    Each painted pixel (layer alpha at least one half) takes the palette colour nearest to
    its colour (:data:`photostyle.engine.masks.PALETTE`; later layers over earlier ones); the
    eraser's clear pixels and the unpainted rest take the label :data:`UNPAINTED`, so that
    what is left unpainted in both photos corresponds too.

    Args:
        value: the editor's value: a dictionary with ``layers``, a list of ``(h, w, 4)``
            uint8 RGBA arrays (``None`` entries are skipped).
        what: ``"content"`` or ``"style"`` (the map's source, for messages).
        shown: ``(h, w)`` of the photo as the page shows it: a painting much larger is
            refused (the editor paints at that size; anything else did not come from it).

    Raises:
        InputError: layers of different sizes, or far larger than the photo shown.
    """
    if not value:
        return None
    layers = [np.asarray(layer) for layer in (value.get("layers") or []) if layer is not None]
    layers = [layer for layer in layers if layer.ndim == 3 and layer.shape[2] == 4]
    if not layers:
        return None
    palette = np.array(list(PALETTE.values()), np.int32)
    h, w = layers[0].shape[:2]
    if shown is not None and (h > 2 * shown[0] + 2 or w > 2 * shown[1] + 2):
        raise InputError(f"{what} painting: {w}x{h} px, the photo is shown at "
                         f"{shown[1]}x{shown[0]}; paint on the page's editor")
    ids = np.full((h, w), -1, np.int32)
    for layer in layers:
        if layer.shape[:2] != (h, w):
            raise InputError(f"{what} painting: its layers differ in size")
        painted = layer[..., 3] >= 128
        if not painted.any():
            continue
        rgb = layer[painted][:, :3].astype(np.int32)
        distance = ((rgb[:, None, :] - palette[None, :, :]) ** 2).sum(-1)
        ids[painted] = distance.argmin(1)
    if (ids < 0).all():
        return None
    used = [i for i in range(len(palette)) if (ids == i).any()]
    names = [list(PALETTE)[i] for i in used]
    table = np.full(len(palette) + 1, -1, np.int32)
    table[used] = np.arange(len(used))
    out = table[ids]  # -1 stays -1 (table[-1] is the extra entry)
    if (out < 0).any():
        names.append(UNPAINTED)
        out[out < 0] = len(names) - 1
    return LabelMap(out, names, "color", f"{what} painting")


def unpainted(shape: tuple[int, int], what: str) -> LabelMap:
    """A label map of one :data:`UNPAINTED` label (a photo left unpainted)."""
    return LabelMap(np.zeros(shape, np.int32), [UNPAINTED], "color", f"{what} painting")


def mask_summary(masks: MaskSet) -> str:
    """The mask report in Markdown, as the ``masks`` command prints it: shared labels with
    their areas, orphans, dropped labels and the unlabelled share."""
    lines = [f"**{len(masks.labels)} shared label(s)**", ""]
    for kind, name, content_share, style_share, why in masks.summary():
        if kind == "dropped":
            lines.append(f"- {name}: **dropped** ({why})")
            continue
        label = "unlabelled (no style loss)" if kind == "unlabelled" else name
        orphan = " — *orphan: styled from the whole style photo*" if kind == "orphan" else ""
        lines.append(f"- {label}: content {content_share:.1%}, style {style_share:.1%}"
                     f"{orphan}")
    return "\n".join(lines)


def explain(exc: PhotostyleError) -> str:
    """An error's message for the page: a missing segmentation model also says what the
    page offers instead."""
    from photostyle.engine.segment import SegmentationError

    text = str(exc)
    if isinstance(exc, SegmentationError):
        text += (". On this page: choose 'Whole photos', paint the regions, or upload mask "
                 "files")
    return text


def _format_seconds(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds} s"


class _Clock:
    """Progress of a run in words: level, step, loss and time left.

    The time left assumes that an evaluation costs in proportion to its level's pixel
    count, measured on the evaluations so far.
    """

    def __init__(self, config: TransferConfig, long_side: int) -> None:
        sizes = config.level_sizes(long_side)
        iterations = config.iterations_per_level()
        self.cost = [n * s * s for s, n in zip(sizes, iterations, strict=True)]
        self.unit = [s * s for s in sizes]
        self.start: float | None = None
        self.started_at = 0  # the work done when the clock started

    def text(self, level: int, n_levels: int, count: int, total: int,
             terms: dict[str, float]) -> str:
        now = time.perf_counter()
        done = sum(self.cost[:level]) + count * self.unit[level]
        if self.start is None:
            self.start, self.started_at = now, done
        spent = now - self.start
        measured = done - self.started_at
        left = (sum(self.cost) - done) * spent / measured if measured > 0 and spent > 0 else (
            math.inf)
        loss = terms.get("total", sum(terms.values()) if terms else float("nan"))
        return (f"level {level + 1}/{n_levels} · step {count}/{total} · loss {loss:.4g} · "
                f"about {_format_seconds(left)} left")


class Studio:
    """Everything a running app holds: the engine, the sessions and their files.

    Args:
        overrides: the settings the server's options set (weights, device, ...); each run
            takes its preset's settings with these on top.
        limits: upload limits.
        workers: transfers that may run at once (one network and cache each).
        root: the folder for all files (default: a new private temporary folder).
    """

    def __init__(self, overrides: dict[str, Any] | None = None, limits: Limits | None = None,
                 workers: int = 1, root: str | os.PathLike | None = None) -> None:
        self.overrides = dict(overrides or {})
        self.config = preset_config("default", **self.overrides)  # validated now
        self.limits = limits or Limits()
        self.root = Path(root) if root is not None else Path(
            tempfile.mkdtemp(prefix="photostyle-app-"))
        #: whether the folder is the app's own (deleted at close; else only what it made)
        self.own_root = root is None or not self.root.exists()
        self.root.mkdir(parents=True, exist_ok=True)
        if self.own_root:
            os.chmod(self.root, 0o700)
        # inside Gradio's folder (see security.UPLOADS): a download is served where it lies
        # and is gone with its session's folder
        self.sessions_root = self.root / UPLOADS / "sessions"
        self.workers: queue.Queue[WorkerState] = queue.Queue()
        for _ in range(max(1, workers)):
            self.workers.put(WorkerState())
        self.preview_state = WorkerState()
        self.preview_lock = threading.Lock()
        self.sessions: dict[str, Session] = {}
        self.closed: set[str] = set()  # tabs gone: their queued jobs do nothing
        self.lock = threading.Lock()
        self.counter = 0
        log.info("the app's files are under %s", self.root)

    # sessions ---------------------------------------------------------------------------

    def session(self, key: str) -> Session:
        """The session of page session id ``key`` (made on first use)."""
        with self.lock:
            if key in self.closed:
                raise InputError("this page was closed; open it again")
            s = self.sessions.get(key)
            if s is None:
                self.counter += 1
                folder = self.sessions_root / f"session-{self.counter}"
                folder.mkdir(mode=0o700, parents=True)
                s = self.sessions[key] = Session(key, folder)
            return s

    def close_session(self, key: str) -> None:
        """The tab has closed: cancel its queued or running job, delete its files."""
        with self.lock:
            s = self.sessions.pop(key, None)
            self.closed.add(key)
        if s is None:
            return
        s.closed = True
        s.cancel.set()
        shutil.rmtree(s.folder, ignore_errors=True)
        log.info("session %s closed", s.folder.name)

    def close(self) -> None:
        """Cancel every job and delete every file of the app (the whole root when the app
        made it; in a folder it was given, only its own upload folder)."""
        for key in list(self.sessions):
            self.close_session(key)
        shutil.rmtree(self.root if self.own_root else self.root / UPLOADS, ignore_errors=True)

    # uploads and masks -----------------------------------------------------------------

    def upload(self, key: str, which: str, path: str | None) -> tuple[np.ndarray | None, str]:
        """A content or style photo uploaded (``which``: ``"content"`` or ``"style"``);
        ``path`` ``None`` clears it. Returns the display image and a description."""
        s = self.session(key)
        if path is None:
            setattr(s, which, None)
            return None, ""
        upload = read_upload(path, f"{which} photo", self.limits)
        setattr(s, which, upload)
        if which == "content":
            s.result = None  # a result belongs to its content
        else:
            s.look = None
        return upload.display, upload.describe()

    def readiness(self, key: str) -> str:
        """The status line for the photos uploaded so far: what to do next."""
        s = self.session(key)
        if s.content is None and s.style is None:
            return "Upload two photos to start."
        if s.content is None:
            return "Now upload your photo, the content."
        if s.style is None:
            return "Now upload the style photo (or pick a saved look)."
        return ("Both photos are in. Check the regions if you like, then **Preview** "
                "(seconds) or **Run**.")

    def use_look(self, key: str, name: str | None) -> tuple[np.ndarray | None, str]:
        """A saved look (``photostyle looks save``) chosen as the style: its photo becomes
        the style and its settings those of the runs with its preset. Returns the display
        image and a description; ``None`` or ``""`` clears the style."""
        from photostyle.runs.looks import load_look

        s = self.session(key)
        if not name:
            s.style, s.look = None, None
            return None, ""
        look = load_look(name)
        upload = read_upload(look.style, "style photo", self.limits, name=f"look {name!r}")
        s.style, s.look = upload, look
        changed = ", ".join(f"{k}={v}" for k, v in look.settings.items())
        return upload.display, (f"look **{name}** (its {look.preset} settings"
                                + (f": {changed}" if changed else "") + "); "
                                + upload.describe())

    @staticmethod
    def look_names() -> list[str]:
        """The saved looks' names, for the page's picker."""
        from photostyle.runs.looks import list_looks

        return [look.name for look in list_looks()]

    def _read_mask_file(self, path: str | None, what: str) -> LabelMap | None:
        if path is None:
            return None
        p = Path(path)
        check_upload_size(p, what, p.name, self.limits)
        try:
            return read_mask(p, tolerance=self.config.mask_tolerance,
                             max_pixels=self.limits.max_pixels)
        except PhotostyleError as exc:
            raise InputError(sanitise_message(str(exc), p, p.name)) from exc

    def mask_sources(self, s: Session, choice: MaskChoice
                     ) -> tuple[LabelMap | None, LabelMap | None, str]:
        """The masks to hand to the transfer and its ``segment`` setting."""
        if choice.mode not in MASK_MODES:
            raise InputError(f"masks: unknown mode {choice.mode!r}")
        if choice.mode == "auto":
            return None, None, "auto"
        if choice.mode == "files":
            c = self._read_mask_file(choice.content_file, "content mask")
            st = self._read_mask_file(choice.style_file, "style mask")
            if (c is None) != (st is None):
                raise InputError("masks: upload both mask files (content and style) or choose "
                                 "another mask source")
            return c, st, "none"
        if choice.mode == "paint":
            c = painted_labels(choice.content_paint, "content", _shown(s.content))
            st = painted_labels(choice.style_paint, "style", _shown(s.style))
            if st is None and c is not None:
                st = unpainted(c.shape, "style")
            elif c is None and st is not None:
                c = unpainted(st.shape, "content")
            return c, st, "none"
        return None, None, "none"

    def _photos(self, s: Session) -> tuple[Upload, Upload]:
        if s.content is None or s.style is None:
            missing = " and ".join(w for w, u in (("content", s.content), ("style", s.style))
                                   if u is None)
            raise InputError(f"upload the {missing} photo first")
        return s.content, s.style

    def masks(self, key: str, choice: MaskChoice) -> tuple[np.ndarray, str]:
        """The masks as the transfer will use them: a preview image (masks over both
        photos, with a legend) and the report in Markdown."""
        from photostyle.engine.preview import render_preview

        s = self.session(key)
        masks, cshow, sshow = self._shown_masks(s, *self.mask_sources(s, choice))
        sheet = render_preview(masks, cshow, sshow)
        return np.asarray(sheet), mask_summary(masks)

    def _shown_masks(self, s: Session, content_mask: LabelMap | None,
                     style_mask: LabelMap | None, segment: str
                     ) -> tuple[MaskSet, np.ndarray, np.ndarray]:
        """The masks of the session's photos as shown (``segment``: without mask files,
        ``"auto"`` or ``"none"``) and those photos, float ``(h, w, 3)`` in [0, 1]."""
        from photostyle.engine.pipeline import read_masks

        content, style = self._photos(s)
        config = self.config.replace(segment=segment)
        cshow, sshow = content.display_float(), style.display_float()
        try:
            with self.preview_lock:  # the segmenter is the previews' to keep
                masks = read_masks(content_mask, style_mask, cshow.shape[:2], sshow.shape[:2],
                                   config, (cshow, sshow), self.preview_state.cache)
        except PhotostyleError as exc:
            raise InputError(explain(exc)) from exc
        return masks, cshow, sshow

    def auto_layers(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """The automatic regions of both photos as painting layers, to start the brush
        from: ``(h, w, 4)`` uint8 RGBA at the size each photo is shown, every pixel painted
        in its region's palette colour (alpha 160: the photo shows through, and
        :func:`painted_labels` reads every pixel back as that region)."""
        masks, _, _ = self._shown_masks(self.session(key), None, None, "auto")
        colours = np.array([PALETTE[n] for n in masks.labels] + [(0, 0, 0)], np.uint8)
        layers = []
        for ids in (masks.content_ids, masks.style_ids):
            rgb = colours[np.where(ids >= 0, ids, len(masks.labels))]
            alpha = np.where(ids >= 0, AUTO_LAYER_ALPHA, 0).astype(np.uint8)[..., None]
            layers.append(np.concatenate([rgb, alpha], axis=2))  # unlabelled: unpainted
        return layers[0], layers[1]

    # transfers ------------------------------------------------------------------------

    def begin(self, key: str, choice: MaskChoice | None = None) -> str:
        """A run was asked for (before it is queued): the photos and masks are checked and
        the masks kept as they are now (the run reads them from the session, not from the
        page), and the cancel flag is new. Returns a line for the page."""
        s = self.session(key)
        self._photos(s)
        s.masks = self.mask_sources(s, choice or MaskChoice())
        s.cancel = threading.Event()
        return "queued"

    def cancel(self, key: str) -> str:
        """Stop the session's queued or running job; a running one keeps its best image."""
        s = self.session(key)
        s.cancel.set()
        return "cancelling: the best image so far is kept" if s.running else "cancelled"

    def run_config(self, preset: str, segment: str, look: Any = None) -> TransferConfig:
        """The settings of a run: the preset's (with a saved ``look``'s settings when it was
        saved with that preset), the server's options on top."""
        from photostyle.engine.config import PRESETS

        if preset not in (*RUN_PRESETS, "preview"):
            raise InputError(f"preset: must be one of {', '.join(RUN_PRESETS)}")
        # the server's settings, except where they would undo what defines the preset
        # (--set iterations=... does not turn the preview into an optimisation)
        own = PRESETS[preset] if preset == "preview" else {}
        settings = {k: v for k, v in self.overrides.items() if k not in own}
        saved = dict(look.settings) if look is not None and look.preset == preset else {}
        saved.pop("segment", None)  # the page's region choice decides
        return preset_config(preset, **{**saved, "segment": segment, **settings})

    def preview(self, key: str, choice: MaskChoice) -> Update:
        """The ``preview`` preset (no network, no optimisation): a result in seconds."""
        s = self.session(key)
        content, style = self._photos(s)
        c, st, segment = self.mask_sources(s, choice)
        config = self.run_config("preview", segment)
        try:
            with self.preview_lock:
                result = transfer(content.photo, style.srgb, config, content_mask=c,
                                  style_mask=st, cache=self.preview_state.cache)
        except PhotostyleError as exc:
            raise InputError(explain(exc)) from exc
        return self._finished(s, result, "preview", 0.0)

    def run(self, key: str, preset: str, choice: MaskChoice | None = None
            ) -> Iterator[Update]:
        """A full transfer, as a stream of :class:`Update`: progress, the image as it
        improves, and the result. Closing the iterator early (the tab closed) cancels the
        run; :meth:`cancel` stops it keeping the best image so far.

        Args:
            preset: one of :data:`RUN_PRESETS`.
            choice: the masks; ``None``: those :meth:`begin` kept.
        """
        if key in self.closed:  # the tab closed while the job was queued
            log.info("a run of a closed page was dropped")
            return
        s = self.session(key)
        cancel = s.cancel
        if cancel.is_set() or s.closed:
            yield Update("cancelled before it started", done=True)
            return
        content, style = self._photos(s)
        if choice is not None:
            s.masks = self.mask_sources(s, choice)
        c, st, segment = s.masks
        config = self.run_config(preset, segment, s.look)
        events: queue.Queue[tuple[str, Any]] = queue.Queue()
        clock = _Clock(config, max(content.photo.pixels.shape[:2]))
        shown = [0.0]

        def progress(level: int, n_levels: int, count: int, total: int,
                     terms: dict[str, float]) -> None:
            if cancel.is_set():
                raise KeyboardInterrupt
            events.put(("progress", clock.text(level, n_levels, count, total, terms)))

        def watch(level: int, count: int, image: np.ndarray) -> None:
            now = time.perf_counter()
            if now - shown[0] >= IMAGE_INTERVAL:
                shown[0] = now
                events.put(("image", to_uint8(image)))

        def work(state: WorkerState) -> None:
            try:
                result = transfer(content.photo, style.srgb, config, content_mask=c,
                                  style_mask=st, extractor=state.network(config),
                                  cache=state.cache, progress=progress, watch=watch)
                events.put(("done", result))
            except KeyboardInterrupt:
                events.put(("error", "cancelled before a result existed"))
            except PhotostyleError as exc:
                events.put(("error", explain(exc)))
            except Exception as exc:  # a bug: one line on the page, the details in the log
                kind, message = describe(exc, "use a smaller working size")
                if kind == "internal":
                    log.exception("transfer failed")
                events.put(("error", message))
            finally:
                self.workers.put(state)

        yield Update("waiting for a worker")
        state = self.workers.get()
        if s.closed or cancel.is_set():  # gone or cancelled while waiting for the worker
            self.workers.put(state)
            yield Update("cancelled before it started", done=True)
            return
        log.info("%s: %s run started", s.folder.name, preset)
        s.running = True
        started = time.perf_counter()
        thread = threading.Thread(target=work, args=(state,), name=f"transfer-{s.key[:8]}",
                                  daemon=True)
        thread.start()
        finished = False
        try:
            yield Update("loading the network and preparing the first level")
            latest: dict[str, Any] = {}
            sent, text = 0.0, ""
            while True:
                # the newest of each kind, at most every UPDATE_INTERVAL (each update
                # re-renders the page: more often only costs the browser's time)
                wait = max(0.0, sent + UPDATE_INTERVAL - time.perf_counter())
                try:
                    kind, value = events.get(timeout=wait) if wait > 0 else (
                        events.get_nowait())
                    latest[kind] = value
                except queue.Empty:
                    pass
                if "done" in latest:
                    finished = True
                    yield self._finished(s, latest["done"], preset,
                                         time.perf_counter() - started)
                    return
                if "error" in latest:
                    finished = True
                    yield Update(f"**stopped**: {latest['error']}", done=True)
                    return
                # the first update waits for a line of progress (an image alone would
                # leave "loading" up for a second, the whole of a short run)
                ready = "progress" in latest if not text else bool(latest)
                if ready and time.perf_counter() >= sent + UPDATE_INTERVAL:
                    text = latest.get("progress", text)
                    yield Update(text, latest.get("image"))
                    latest, sent = {}, time.perf_counter()
                elif not ready:
                    kind, value = events.get()  # nothing to show yet: wait for the work
                    latest[kind] = value
        finally:
            s.running = False
            if not finished:  # the page went away: stop the work
                cancel.set()

    def _finished(self, s: Session, result: TransferResult, preset: str,
                  seconds: float) -> Update:
        s.result = result
        content = s.content
        assert content is not None
        shown = self.render_display(s, 1.0)
        what = {"completed": "done", "interrupted": "cancelled: the best image so far is kept",
                "diverged": f"stopped early: {result.message}"}.get(result.status,
                                                                     result.status)
        took = f" in {_format_seconds(seconds)}" if seconds else ""
        return Update(f"**{preset}**: {what}{took}", done=True,
                      result=(content.display, shown))

    # the result -------------------------------------------------------------------------

    def render_display(self, s: Session, strength: float) -> np.ndarray:
        """The session's result at ``strength`` at the display size, uint8 sRGB: the
        saved transforms applied to the content (no new optimisation)."""
        if s.result is None or s.content is None:
            raise InputError("no result yet: run a preview or a transfer first")
        if not 0.0 <= strength <= 1.0:
            raise InputError(f"strength: must be between 0 and 1, got {strength}")
        content = s.content.display_float()
        if s.result.look is not None:
            out = s.result.look.render(content, strength)
        else:  # interrupted while smoothing: the optimised image itself, blended
            out = render_plain(s.result.working_image, content, strength)
        return to_uint8(out)

    def restrength(self, key: str, strength: float) -> tuple[np.ndarray, np.ndarray]:
        """Before/after images at a new strength (from the saved transforms)."""
        s = self.session(key)
        shown = self.render_display(s, float(strength))
        assert s.content is not None
        return s.content.display, shown

    def export(self, key: str, fmt: str, bit_depth: int, profile: str,
               strength: float) -> Path:
        """The result at the content's full resolution as a file to download.

        Args:
            fmt: a key of :data:`FORMATS`.
            bit_depth: 8 or 16 (16 for PNG and TIFF only).
            profile: ``"content"`` (the content's own profile, embedded) or ``"srgb"``.
            strength: 0 to 1.

        Returns:
            The file, ``photostyle-<n>.<ext>`` in the session's folder; the content's EXIF
            and XMP are carried, the orientation reset.
        """
        s = self.session(key)
        if s.result is None or s.content is None:
            raise InputError("no result yet: run a preview or a transfer first")
        if fmt not in FORMATS:
            raise InputError(f"format: must be one of {', '.join(FORMATS)}")
        if bit_depth == 16 and WRITE_FORMATS[FORMATS[fmt]] not in SIXTEEN_BIT_FORMATS:
            raise InputError(f"{fmt} holds 8 bits per channel: choose PNG or TIFF for 16")
        config = self.config.replace(strength=float(strength), output_profile=profile)
        content = s.content
        if s.result.look is not None:
            rendered = apply_look(s.result.look, content.photo, config)
        else:
            rendered = s.result  # no transforms: the image as it was made
        s.downloads += 1
        path = s.folder / f"photostyle-{s.downloads}{FORMATS[fmt]}"
        metadata = Metadata()
        try:
            metadata = read_metadata(content.path).for_output(source="the content")
        except PhotostyleError:
            log.warning("the content's metadata could not be read; written without it")
        rendered.save(path, metadata=metadata, bit_depth=bit_depth)
        return path
