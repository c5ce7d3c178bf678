"""Reading images (writing them: :mod:`photostyle.files.writers`).

Images inside photostyle are ``float32`` numpy arrays of shape ``(H, W, 3)`` with values in
``[0, 1]`` (RGB), or torch tensors of shape ``(1, 3, H, W)`` with the same range.
Files are read with EXIF orientation applied, every colour mode is converted to RGB, and
sizes are checked before the pixels are decoded.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from photostyle.errors import InputError
from photostyle.files import icc
from photostyle.files.exif import ORIENTATION
from photostyle.files.icc import RGBProfile
from photostyle.files.raw import RAW_EXTENSIONS

log = logging.getLogger(__name__)

ImageLike = str | os.PathLike | Image.Image | np.ndarray


def open_image(path: str | os.PathLike, *, max_pixels: int, what: str = "image",
               transpose: bool = True) -> Image.Image:
    """Open an image file, check its size and decode it fully, with EXIF orientation applied.

    Args:
        path: the file.
        max_pixels: refuse images with more than this many pixels (before decoding).
        what: what the file is for, used in error messages ("content image", "mask", ...).
        transpose: false: only open it and check its size, neither decoded nor turned.

    Raises:
        InputError: missing, unreadable, not an image, truncated, empty or too large.
    """
    from photostyle.files import heif
    from photostyle.files.paths import check_input_file

    p = check_input_file(path, what)
    if heif.looks_like_heif(p) and not heif.available():
        raise InputError(f"{what} {p}: a HEIF/HEIC photo; to read it, {heif.INSTALL_HINT}")
    try:
        # photostyle's limit, not Pillow's fixed 89.5 megapixels (which would refuse a
        # 100-megapixel camera file before --max-pixels is looked at): the header is read
        # without Pillow's check, the size checked here, and Pillow's check (frames of an
        # animation) set to the same limit for decoding
        with pillow_limit(None), warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(p)
            width, height = opened.size
            if width < 1 or height < 1:
                raise InputError(f"{what} {p}: image is empty ({width}x{height})")
            if width * height > max_pixels:
                bomb = ", a possible decompression bomb" if width * height > 2 * max_pixels \
                    else ""
                raise InputError(
                    f"{what} {p}: {width}x{height} = {pixel_count(width * height)} exceeds "
                    f"the limit of {pixel_count(max_pixels)}{bomb} (raise --max-pixels if the "
                    "file is trusted)"
                )
            Image.MAX_IMAGE_PIXELS = max_pixels
            frames = getattr(opened, "n_frames", 1)
            if opened.format in ("HEIF", "AVIF") and frames > 1:
                raise InputError(
                    f"{what} {p}: holds {frames} images (a sequence, burst or animation); "
                    "photostyle styles one photo: export the one you want to its own file")
            if not transpose:
                return opened
            opened.load()
            image = ImageOps.exif_transpose(opened)
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(f"{what} {p}: refused as a decompression bomb ({exc})") from None
    except UnidentifiedImageError:
        raise InputError(f"{what} {p}: not an image file Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{what} {p}: cannot decode image ({exc})") from None
    return image


_PILLOW_LIMIT = threading.Lock()


@contextlib.contextmanager
def pillow_limit(max_pixels: int | None) -> Iterator[None]:
    """Pillow's decompression-bomb limit set to ``max_pixels`` (``None``: off) meanwhile,
    restored after. Pillow's limit is process-wide, so the opens that change it take
    turns (an app serving several people decodes one upload at a time)."""
    with _PILLOW_LIMIT:
        before = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = before


def pixel_count(n: int) -> str:
    """``n`` pixels in words: ``"12.2 megapixels"``, or ``"4,096 pixels"`` below 0.1 MP."""
    if n >= 100_000:
        return f"{n / 1e6:.1f} megapixels"
    return f"{n:,} pixel{'s' if n != 1 else ''}"


def pil_to_array(image: Image.Image) -> np.ndarray:
    """Convert any Pillow image to RGB float32 ``(H, W, 3)`` in ``[0, 1]``.

    Grayscale is replicated to three channels; 16- and 32-bit grayscale keep their
    precision; alpha is composited over white; palette, CMYK and YCbCr are converted.
    """
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        arr = np.asarray(image, dtype=np.float32) / 65535.0
        return np.repeat(arr[..., None], 3, axis=2).clip(0, 1)
    if mode in ("I", "F"):
        arr = np.asarray(image, dtype=np.float32)
        top = 65535.0 if arr.max(initial=0) > 255 else 255.0
        return np.repeat((arr / top)[..., None], 3, axis=2).clip(0, 1).astype(np.float32)
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    rgb = image.convert("RGB")
    return np.asarray(rgb, dtype=np.float32) / 255.0


def load_image(
    source: ImageLike, *, max_pixels: int = 150_000_000, what: str = "image"
) -> np.ndarray:
    """Load an image from a path, a Pillow image or an array, as sRGB.

    Args:
        source: a file path, a ``PIL.Image``, or an array ``(H, W)``, ``(H, W, 3)`` or
            ``(H, W, 4)`` with values in [0, 1] (float) or 0-255 (uint8) / 0-65535 (uint16).
            Files and Pillow images are colour managed: an embedded ICC profile is
            converted to sRGB (see :func:`read_photo`); 16-bit files keep their precision.
        max_pixels: size limit for files.
        what: name used in error messages.

    Returns:
        float32 array ``(H, W, 3)`` in ``[0, 1]``, sRGB.
    """
    if isinstance(source, np.ndarray):
        return array_to_rgb(source, what=what)
    return read_photo(source, max_pixels=max_pixels, what=what).srgb()


@dataclass
class Photo:
    """A photo as its file holds it: pixels in the file's own colour encoding.

    Attributes:
        pixels: ``(H, W, 3)`` float32 in [0, 1], upright, encoded in ``profile`` (sRGB when
            ``profile`` is ``None``).
        profile: the RGB profile the pixels are encoded in, or ``None`` for sRGB.
        icc: ICC bytes to embed in an output encoded like this photo (the file's own
            profile; ``None`` for an untagged sRGB photo).
        bit_depth: 8 or 16 (bits per channel of the file).
        colour: what was done about colour, in words (for reports).
    """

    pixels: np.ndarray
    profile: RGBProfile | None = None
    icc: bytes | None = None
    bit_depth: int = 8
    colour: str = "sRGB (untagged)"

    def srgb(self, *, clip: bool = True) -> np.ndarray:
        """The pixels in sRGB: ``(H, W, 3)`` float32, clipped to [0, 1] unless ``clip`` is
        false (then extended sRGB: wide-gamut colours lie outside [0, 1])."""
        if self.profile is None:
            return self.pixels
        out = np.empty(self.pixels.shape, np.float32)
        for top in range(0, self.pixels.shape[0], CONVERT_ROWS):
            rows = slice(top, top + CONVERT_ROWS)
            tile = icc.convert(self.pixels[rows], self.profile, icc.srgb())
            out[rows] = np.clip(tile, 0.0, 1.0) if clip else tile
        return out


#: Rows converted between colour profiles at a time (the conversion works in float64).
CONVERT_ROWS = 256


def read_photo(source: str | os.PathLike | Image.Image, *, max_pixels: int = 150_000_000,
               what: str = "image") -> Photo:
    """Read a photo at full precision, with its colour profile (see :class:`Photo`).

    16-bit RGB PNG and TIFF are decoded by OpenCV (Pillow reduces them to 8 bits), 10- and
    12-bit HEIF by libheif (:mod:`photostyle.files.heif`) as 16 bits; every other file by
    Pillow. The EXIF orientation is applied. An embedded profile is read with
    :mod:`photostyle.icc`: sRGB profiles need no conversion; RGB matrix/TRC profiles are
    kept for conversion in floating point; other profiles (CMYK, greyscale, LUT-based RGB)
    are converted to 8-bit sRGB by littleCMS; a broken one is ignored with a warning.

    Raises:
        InputError: the file cannot be read (see :func:`open_image`).
    """
    from photostyle.files import raw

    if not isinstance(source, Image.Image) and raw.is_raw(source):
        return raw.read_raw(source, max_pixels=max_pixels, what=what)
    if isinstance(source, Image.Image):
        name = what
        upright, pixels16 = ImageOps.exif_transpose(source), None
        data = source.info.get("icc_profile") or None
    else:
        name = f"{what} {source}"
        upright, pixels16 = _open_full_precision(source, max_pixels=max_pixels, what=what)
        data = upright.info.get("icc_profile") or None
        if data is None and upright.format in ("HEIF", "AVIF"):
            from photostyle.files import heif

            nclx = heif.nclx_space(upright.info, name)
            if nclx is not None:  # a phone's Display P3 photo without an ICC profile
                data = icc.space(nclx).data
    bit_depth = 16 if pixels16 is not None or upright.mode.startswith("I;16") else 8
    pixels = pixels16 if pixels16 is not None else pil_to_array(upright)
    if data is None:
        return Photo(pixels, None, None, bit_depth)
    try:
        profile = icc.read_profile(data, name)
    except icc.ProfileError as exc:  # readable, but not a matrix/TRC RGB profile
        try:
            flat = upright if pixels16 is None and upright.mode in ("RGB", "CMYK", "L") \
                else Image.fromarray(to_uint8(pixels))
            converted = icc.littlecms_to_srgb(flat, data)
        except Exception as err:
            log.warning("%s: colour profile %s cannot be applied (%s); read as sRGB",
                        name, exc, err)
            return Photo(pixels, None, None, bit_depth, "profile not applicable, read as sRGB")
        if bit_depth == 16:
            log.warning("%s: %s; converted to 8-bit sRGB by littleCMS", name, exc)
        note = f"{exc}; converted to sRGB by littleCMS (8-bit)"
        return Photo(pil_to_array(converted), None, None, 8, note)  # type: ignore[arg-type]
    if profile is None:
        return Photo(pixels, None, None, bit_depth, "broken colour profile ignored, read as sRGB")
    if profile.same_as(icc.srgb()):
        return Photo(pixels, None, data, bit_depth, f"{profile.name} (sRGB)")
    return Photo(pixels, profile, data, bit_depth,
                 f"{profile.name}, converted to sRGB in floating point")


def _open_full_precision(
    path: str | os.PathLike, *, max_pixels: int, what: str
) -> tuple[Image.Image, np.ndarray | None]:
    """Open a file; for 16-bit RGB(A) PNG and TIFF also the pixels at full precision.

    Returns:
        the Pillow image (decoded; for the 16-bit files only its header and metadata are
        used) and, for those files, ``(H, W, 3)`` float32 in [0, 1], upright.
    """
    image: Any = open_image(path, max_pixels=max_pixels, what=what, transpose=False)
    rawmode = image.tile[0].args if image.tile else None
    # the size as stored (Pillow may report a turned TIFF's size turned)
    x0, y0, x1, y1 = image.tile[0].extents if image.tile else (0, 0, *image.size)
    if isinstance(rawmode, tuple):
        rawmode = rawmode[0]
    sixteen = (image.format in ("PNG", "TIFF") and image.mode in ("RGB", "RGBA")
               and isinstance(rawmode, str) and ";16" in rawmode)
    if image.format == "HEIF" and int(image.info.get("bit_depth") or 8) > 8:
        from photostyle.files import heif

        try:
            pixels = heif.read_high_bit_depth(path)
        except (OSError, RuntimeError, ValueError) as exc:
            raise InputError(f"{what} {path}: cannot decode its "
                             f"{image.info['bit_depth']}-bit pixels ({exc})") from None
        return image, pixels  # libheif turned them upright (its header says orientation 1)
    if not sixteen:
        image.close()
        return open_image(path, max_pixels=max_pixels, what=what), None
    import cv2

    p = Path(path)
    orientation = image.getexif().get(ORIENTATION, 1)
    try:
        buffer = np.fromfile(p, dtype=np.uint8)
        if image.format == "TIFF" and orientation != 1:
            # OpenCV's TIFF reader fails on turned 16-bit files: read it as stored
            buffer = _tiff_upright_tag(buffer)
        decoded = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    except (OSError, cv2.error) as exc:
        raise InputError(f"{what} {p}: cannot decode image ({exc})") from None
    if (decoded is None or decoded.dtype != np.uint16 or decoded.ndim != 3
            or decoded.shape[:2] != (y1 - y0, x1 - x0)):
        raise InputError(f"{what} {p}: cannot decode its 16-bit pixels")
    rgb = decoded[..., 2::-1].astype(np.float32) / 65535.0
    if decoded.shape[2] == 4:  # alpha over white, as for every other file
        alpha = decoded[..., 3:4].astype(np.float32) / 65535.0
        rgb = rgb * alpha + (1.0 - alpha)
    return image, np.ascontiguousarray(orient(rgb, orientation), dtype=np.float32)


def _tiff_upright_tag(buffer: np.ndarray) -> np.ndarray:
    """A copy of a TIFF (or BigTIFF) file's bytes with the first directory's orientation
    tag set to 1, whichever integer type it is stored as."""
    import struct

    from photostyle.files import exif as tiff

    data = bytearray(buffer.tobytes())
    endian = tiff.endian_of(data)
    for where, kind in tiff.tag_positions(data, ORIENTATION):  # type: ignore[arg-type]
        code = {1: "B", 3: "H", 4: "I", 16: "Q"}.get(kind)
        if code is not None:
            struct.pack_into(endian + code, data, where, 1)
    return np.frombuffer(bytes(data), dtype=np.uint8)


def orient(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Turn ``(H, W, C)`` pixels upright given their EXIF orientation (1-8)."""
    if orientation in (2, 4, 5, 7):  # mirrored: flip left-right first, then turn as 1/3/6/8
        pixels = pixels[:, ::-1]
        orientation = {2: 1, 4: 3, 5: 8, 7: 6}[orientation]
    turns = {3: 2, 6: 3, 8: 1}.get(orientation, 0)  # counter-clockwise quarter turns
    return np.rot90(pixels, turns) if turns else pixels


def array_to_rgb(array: np.ndarray, *, what: str = "image") -> np.ndarray:
    """Validate and convert a user array to float32 ``(H, W, 3)`` in ``[0, 1]``."""
    arr = np.asarray(array)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4) or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InputError(f"{what}: expected an array (H, W), (H, W, 3) or (H, W, 4), got "
                         f"shape {tuple(np.shape(array))}")
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255.0
    elif arr.dtype == np.uint16:
        arr = arr.astype(np.float32) / 65535.0
    elif np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32)
        if not np.isfinite(arr).all():
            raise InputError(f"{what}: array contains NaN or Inf")
    else:
        raise InputError(f"{what}: unsupported array dtype {arr.dtype}")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.shape[2] == 4:
        alpha = arr[..., 3:4]
        arr = arr[..., :3] * alpha + (1.0 - alpha)
    return np.ascontiguousarray(arr.clip(0.0, 1.0), dtype=np.float32)


def fit_long_side(height: int, width: int, long_side: int) -> tuple[int, int]:
    """Size ``(h, w)`` with the given long side and the same aspect ratio (each >= 1)."""
    scale = long_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an ``(H, W, C)`` float image to ``size = (h, w)``.

    Uses area averaging when shrinking (no aliasing) and bicubic interpolation when
    enlarging; the result is clipped to the input's range for [0, 1] images.
    """
    import cv2

    h, w = size
    if (h, w) == image.shape[:2]:
        return image.copy()
    shrinking = h * w < image.shape[0] * image.shape[1]
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    out = cv2.resize(image, (w, h), interpolation=interp)
    if out.ndim == 2 and image.ndim == 3:
        out = out[..., None]
    if not shrinking:
        out = np.clip(out, image.min(), image.max())
    return out.astype(image.dtype, copy=False)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` float in [0, 1] to uint8 with rounding."""
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


#: Extensions read as photos in a folder.
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp",
                              ".heic", ".heif", ".hif", ".avif"}) | RAW_EXTENSIONS


def read_content(content: ImageLike | Photo, max_pixels: int) -> Photo:
    """The content as a :class:`~photostyle.files.images.Photo` (pixels in its own encoding)."""
    if isinstance(content, Photo):
        return content
    if isinstance(content, np.ndarray):
        return Photo(array_to_rgb(content, what="content image"),
                     bit_depth=16 if content.dtype == np.uint16 else 8)
    return read_photo(content, max_pixels=max_pixels, what="content image")
