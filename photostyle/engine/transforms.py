"""A finished look, saved: the local affine colour transforms of a transfer.

A transfer ends by expressing its result as per-pixel affine colour transforms of the
content (:mod:`photostyle.smooth`). Those few maps, at the working size, are the whole look:
saved beside the output, they re-render it on the content at any strength and size in about
a second, without optimising again (``photostyle apply``). The file is a compressed NumPy
archive (no pickled objects), ``OUT.png.transforms.npz``:

* ``a``: ``(h, w, 3, 3)`` float32, ``b``: ``(h, w, 3)`` float32 (``out = A content + b``, on
  the content in sRGB; output channel first);
* ``info``: UTF-8 JSON (format name and version, the content it was made for: file name, size
  and a digest of its pixels, the smoothing and the transfer's settings);
* ``grid`` (only for a look optimised as a grid, ``variable="grid"``): ``(1, 12, D, gh, gw)``
  float32, the bilateral grid itself (:mod:`photostyle.engine.grid`), which is rendered
  instead of the maps: sliced with the content's own luminance at any size. Versions of
  photostyle that do not know this member render the maps.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from photostyle.errors import InputError, OutputError
from photostyle.files.icc import Encoding

log = logging.getLogger(__name__)

FORMAT = "photostyle-transforms"
VERSION = 1
#: Largest transform maps read back (pixels of the working size): far above any working size.
MAX_WORKING_PIXELS = 16_000_000


def pixel_digest(pixels: np.ndarray) -> str:
    """A short digest of an image's pixels (to recognise the content a look was made for)."""
    digest = hashlib.blake2b(np.ascontiguousarray(pixels, dtype=np.float32).tobytes(),
                             digest_size=12)
    digest.update(str(pixels.shape).encode())
    return digest.hexdigest()


@dataclass
class Look:
    """Local affine colour transforms of a content photo (see the module's docstring).

    Attributes:
        a: ``(h, w, 3, 3)`` float32; b: ``(h, w, 3)`` float32.
        grid: ``(1, 12, D, gh, gw)`` float32 or None (see the module's docstring).
        info: JSON-ready description (``content_size`` ``[H, W]``, ``content_digest``,
            ``smooth``, ``settings`` ...).
    """

    a: np.ndarray
    b: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)
    grid: np.ndarray | None = None

    def render(self, content: np.ndarray, strength: float = 1.0,
               encoding: Encoding | None = None) -> np.ndarray:
        """The look on ``content`` ``(H, W, 3)`` (any size; sRGB, or ``encoding.source``'s
        profile) at ``strength``: the grid sliced at that size when the look has one, else
        the maps upsampled (:func:`photostyle.engine.smooth.render`). ``(H, W, 3)`` float32
        in [0, 1], in the output's encoding."""
        if self.grid is not None:
            from photostyle.engine.grid import render_array

            return render_array(self.grid, content, strength, encoding)
        from photostyle.engine.smooth import render

        return render(self.a, self.b, content, strength, encoding)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the archive atomically.

        Raises:
            OutputError: the file cannot be written.
        """
        from photostyle.files.writers import _json_default, atomic_write

        p = Path(path)
        info = {"format": FORMAT, "version": VERSION, **self.info}
        text = json.dumps(info, default=_json_default).encode("utf-8")
        try:
            with atomic_write(p) as handle:
                arrays: dict[str, Any] = {"a": self.a.astype(np.float32),
                                          "b": self.b.astype(np.float32),
                                          "info": np.frombuffer(text, dtype=np.uint8)}
                if self.grid is not None:
                    arrays["grid"] = self.grid.astype(np.float32)
                np.savez_compressed(handle, **arrays)
        except OSError as exc:
            raise OutputError(f"transforms {p}: cannot write ({exc})") from None
        return p

    @classmethod
    def load(cls, path: str | os.PathLike) -> Look:
        """Read an archive written by :meth:`save` (no pickles are loaded).

        Raises:
            InputError: missing, not such an archive, or arrays of the wrong shape.
        """
        from photostyle.files.paths import check_input_file

        p = check_input_file(path, "transforms file")
        what = f"transforms file {p}"
        if not zipfile.is_zipfile(p):
            raise InputError(f"{what}: not a photostyle transforms file (a .transforms.npz "
                             "archive saved beside a transfer's output)")
        try:
            with np.load(p, allow_pickle=False) as archive:
                names = set(archive.files)
                if not {"a", "b", "info"} <= names:
                    raise InputError(f"{what}: not a photostyle transforms file (it holds "
                                     f"{', '.join(sorted(names)) or 'nothing'})")
                _check_headers(archive, what)
                info_bytes, a, b = archive["info"], archive["a"], archive["b"]
                grid = archive["grid"] if "grid" in names else None
        except InputError:
            raise
        except MemoryError:
            raise InputError(f"{what}: too large to read") from None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
            reason = "its arrays are not plain numbers" if "pickle" in str(exc) else str(exc)
            raise InputError(f"{what}: not a photostyle transforms file ({reason})") from None
        try:
            info = json.loads(bytes(np.asarray(info_bytes, dtype=np.uint8)).decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"{what}: its description is not JSON ({exc})") from None
        if not isinstance(info, dict) or info.get("format") != FORMAT:
            raise InputError(f"{what}: not a photostyle transforms file")
        if info.get("version") != VERSION:
            raise InputError(f"{what}: format version {info.get('version')} (this photostyle "
                             f"reads version {VERSION}); re-run the transfer")
        if (a.ndim != 4 or a.shape[2:] != (3, 3) or b.shape != a.shape[:3]
                or a.dtype != np.float32 or b.dtype != np.float32 or min(a.shape[:2]) < 1):
            raise InputError(f"{what}: transform maps of shapes {a.shape} and {b.shape}; "
                             "expected (h, w, 3, 3) and (h, w, 3) float32")
        if not (np.isfinite(a).all() and np.isfinite(b).all()):
            raise InputError(f"{what}: transform maps contain NaN or Inf")
        if grid is not None and not np.isfinite(grid).all():
            raise InputError(f"{what}: its grid of transforms contains NaN or Inf")
        return cls(a, b, info, grid)

    def check_content(self, pixels: np.ndarray, source: str) -> None:
        """Warn when ``pixels`` (the content to render on, ``(H, W, 3)`` sRGB) are not the
        photo the look was made for; refuse a very different shape.

        Raises:
            InputError: the content's aspect ratio differs from the transforms' by over 2 %.
        """
        h, w = self.a.shape[:2]
        ch, cw = pixels.shape[:2]
        if abs((cw / ch) / (w / h) - 1.0) > 0.02:
            raise InputError(f"content image {source}: {cw}x{ch} px, but the transforms were "
                             f"made for a {w}:{h} photo (aspect ratios differ)")
        digest = self.info.get("content_digest")
        if digest and digest != pixel_digest(pixels):
            log.warning("%s is not the photo these transforms were made for (%s); the look "
                        "is applied position by position anyway", source,
                        self.info.get("content", "unknown"))


#: Largest grid read back (values): 64 bins of a 256 x 256-cell grid, far above any setting.
MAX_GRID_VALUES = 12 * 64 * 257 * 257

#: Largest description read back (JSON of the settings: a few kilobytes).
MAX_INFO_BYTES = 1 << 20


def _check_headers(archive: Any, what: str) -> None:
    """Refuse, from the arrays' headers alone (before any is read), an archive whose members
    declare shapes or types a look never has, or sizes beyond any working size: a file of
    a few bytes may declare terabytes.

    Raises:
        InputError: naming the member and what is wrong.
    """
    expected = {"a": (4, np.float32), "b": (3, np.float32), "info": (1, np.uint8)}
    shapes = {}
    for name, (ndim, dtype) in expected.items():
        shape, kind = _header(archive, name)
        if len(shape) != ndim or kind != np.dtype(dtype):
            raise InputError(f"{what}: member {name!r} is {kind} of shape {shape}, not a "
                             "look's")
        shapes[name] = shape
    for name in ("a", "b"):
        h, w = shapes[name][:2]
        if h * w > MAX_WORKING_PIXELS:
            raise InputError(f"{what}: member {name!r} declares transform maps of {w}x{h} "
                             "px, far larger than any working size")
    if "grid" in archive.files:
        shape, kind = _header(archive, "grid")
        if (len(shape) != 5 or shape[:2] != (1, 12) or kind != np.dtype(np.float32)
                or min(shape[2:]) < 2 or math.prod(shape) > MAX_GRID_VALUES):
            raise InputError(f"{what}: member 'grid' is {kind} of shape {shape}; expected "
                             "(1, 12, D, gh, gw) float32 (at most "
                             f"{MAX_GRID_VALUES:,} values)")
    if shapes["info"][0] > MAX_INFO_BYTES:
        raise InputError(f"{what}: member 'info' (its description) declares "
                         f"{shapes['info'][0]:,} bytes (at most {MAX_INFO_BYTES:,})")


def _header(archive: Any, name: str) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and type of an array in an ``.npz`` archive, read from its header (not its
    data)."""
    from numpy.lib import format as npy_format

    with archive.zip.open(f"{name}.npy") as handle:
        version = npy_format.read_magic(handle)
        read = (npy_format.read_array_header_1_0 if version == (1, 0)
                else npy_format.read_array_header_2_0)
        shape, _, dtype = read(handle)
    return tuple(shape), dtype
