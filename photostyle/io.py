"""Reading and writing images.

Images inside photostyle are ``float32`` numpy arrays of shape ``(H, W, 3)`` with values in
``[0, 1]`` (RGB), or torch tensors of shape ``(1, 3, H, W)`` with the same range.
Files are read with EXIF orientation applied, every colour mode is converted to RGB, and
sizes are checked before the pixels are decoded. Files are written atomically: to a
temporary file in the target folder, then renamed over the target.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InputError, OutputError

log = logging.getLogger(__name__)

ImageLike = str | os.PathLike | Image.Image | np.ndarray

#: Extensions that :func:`save_image` writes, with the Pillow format name.
WRITE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
    ".bmp": "BMP",
}


def open_image(path: str | os.PathLike, *, max_pixels: int, what: str = "image") -> Image.Image:
    """Open an image file, check its size and decode it fully, with EXIF orientation applied.

    Args:
        path: the file.
        max_pixels: refuse images with more than this many pixels (before decoding).
        what: what the file is for, used in error messages ("content image", "mask", ...).

    Raises:
        InputError: missing, unreadable, not an image, truncated, empty or too large.
    """
    from .paths import check_input_file

    p = check_input_file(path, what)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(p)
            width, height = opened.size
            if width < 1 or height < 1:
                raise InputError(f"{what} {p}: image is empty ({width}x{height})")
            if width * height > max_pixels:
                raise InputError(
                    f"{what} {p}: {width}x{height} = {pixel_count(width * height)} exceeds "
                    f"the limit of {pixel_count(max_pixels)} (raise --max-pixels if the file "
                    "is trusted)"
                )
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
    """Load an image from a path, a Pillow image or an array.

    Args:
        source: a file path, a ``PIL.Image``, or an array ``(H, W)``, ``(H, W, 3)`` or
            ``(H, W, 4)`` with values in [0, 1] (float) or 0-255 (uint8) / 0-65535 (uint16).
        max_pixels: size limit for files.
        what: name used in error messages.

    Returns:
        float32 array ``(H, W, 3)`` in ``[0, 1]``.
    """
    if isinstance(source, Image.Image):
        return pil_to_array(ImageOps.exif_transpose(source))
    if isinstance(source, np.ndarray):
        return array_to_rgb(source, what=what)
    return pil_to_array(open_image(source, max_pixels=max_pixels, what=what))


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


def check_image_extension(path: str | os.PathLike, what: str = "output") -> Path:
    """Check that ``path`` has an extension :func:`save_image` writes.

    Raises:
        OutputError: unknown extension.
    """
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in WRITE_FORMATS:
        raise OutputError(
            f"{what} {p}: unknown image extension {ext or '(none)'!r}; use one of "
            + ", ".join(sorted(WRITE_FORMATS))
        )
    return p


def check_output_path(path: str | os.PathLike, inputs: list[str | os.PathLike | None]) -> Path:
    """Check that the image ``path`` can be written and is none of ``inputs``.

    A shorthand for :func:`photostyle.paths.check_writes` with one image output; commands
    that write several files call that function with all of them at once.

    Raises:
        OutputError: unknown extension, path equals an input, or the place is not writable.
    """
    from .paths import check_writes

    p = check_image_extension(path)
    check_writes([("output", p)], [("input", i) for i in inputs])
    return p


def _umask() -> int:
    """The process's umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; rename it over ``path`` only on success.

    The file gets the permissions an ordinary ``open`` would give it (``0o666`` less the
    umask), not the private ``0o600`` of a temporary file. Missing folders are created
    (only here, when something is written: checks before the work create nothing).
    """
    p = Path(path)
    folder = p.parent if str(p.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    # the temporary name stays within the file system's name limit whatever p's length
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name[:64]}.", suffix=".tmp", dir=folder)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@dataclass(frozen=True)
class Metadata:
    """A photo's descriptive metadata, to carry from the content file to the output.

    Attributes:
        exif: the EXIF block (camera, lens, exposure, date, GPS ...) as bytes, with the
            orientation tag reset to 1 (photostyle writes pixels upright), or ``None``.
        xmp: the XMP packet as bytes, or ``None``.
    """

    exif: bytes | None = None
    xmp: bytes | None = None

    def __bool__(self) -> bool:
        return bool(self.exif or self.xmp)


#: EXIF tag of the orientation (1: upright).
ORIENTATION = 0x0112
#: TIFF tag holding an XMP packet.
XMP_TAG = 700
#: PNG text key of an XMP packet (an iTXt chunk).
PNG_XMP_KEY = "XML:com.adobe.xmp"
#: TIFF tags that describe how a file's pixels are stored (size, samples, compression,
#: strips and tiles, colour map, ICC profile, XMP): a TIFF content's ``getexif()`` holds them
#: beside the EXIF proper, and they must not travel to a file laid out differently.
STRUCTURE_TAGS = frozenset({254, 255, 256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 280,
                            281, 284, 317, 320, 322, 323, 324, 325, 338, 339, 340, 341, 347,
                            530, 531, 532, XMP_TAG, 34675})


def read_metadata(path: str | os.PathLike) -> Metadata:
    """The EXIF and XMP of an image file (see :class:`Metadata`); an empty one when the file
    has none or they cannot be parsed (a broken EXIF block is dropped with a warning, never
    an error: the pixels matter more)."""
    try:
        with Image.open(path) as im:
            exif = im.getexif()
            xmp = im.info.get("xmp")
            if xmp is None and isinstance(im.info.get(PNG_XMP_KEY), str):
                xmp = im.info[PNG_XMP_KEY]
            if ORIENTATION in exif:
                exif[ORIENTATION] = 1
            for tag in STRUCTURE_TAGS & set(exif):  # a TIFF's own layout, not metadata
                del exif[tag]
            exif_bytes = exif.tobytes() if len(exif) else None
    except Exception as exc:  # metadata is optional: say so and go on
        log.warning("%s: metadata not readable, not carried (%s)", path, exc)
        return Metadata()
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8")
    return Metadata(exif_bytes, xmp if isinstance(xmp, bytes) and xmp else None)


def save_image(image: np.ndarray, path: str | os.PathLike, *, quality: int = 95,
               metadata: Metadata | None = None) -> Path:
    """Write an ``(H, W, 3)`` float image in [0, 1] atomically; format from the extension.

    Args:
        quality: JPEG and WebP quality (1-100).
        metadata: EXIF and XMP to embed (JPEG, PNG, TIFF, WebP; BMP has no place for them).

    Raises:
        OutputError: unknown extension or the file cannot be written.
    """
    p = check_image_extension(path)
    fmt = WRITE_FORMATS[p.suffix.lower()]
    pil = Image.fromarray(to_uint8(image))
    kwargs: dict[str, Any] = {}
    if fmt in ("JPEG", "WEBP"):
        kwargs["quality"] = quality
    if metadata and fmt == "TIFF":
        # TIFF keeps EXIF in its own tags and XMP in tag 700 of the same directory
        tags = Image.Exif()
        if metadata.exif:
            tags.load(metadata.exif)
        if metadata.xmp:
            tags[XMP_TAG] = metadata.xmp
        kwargs["exif"] = tags
    elif metadata and fmt != "BMP":
        if metadata.exif:
            kwargs["exif"] = metadata.exif
        if metadata.xmp:
            if fmt == "PNG":
                from PIL.PngImagePlugin import PngInfo

                info = PngInfo()
                info.add_itxt(PNG_XMP_KEY, metadata.xmp.decode("utf-8", "replace"))
                kwargs["pnginfo"] = info
            else:
                kwargs["xmp"] = metadata.xmp
    try:
        with atomic_write(p) as handle:
            pil.save(handle, format=fmt, **kwargs)
    except OSError as exc:
        raise OutputError(f"output {p}: cannot write ({exc})") from None
    return p


def save_json(data: Any, path: str | os.PathLike) -> Path:
    """Write JSON atomically (UTF-8, indented)."""
    import json

    p = Path(path)
    try:
        with atomic_write(p, "w") as handle:
            json.dump(data, handle, indent=2, default=_json_default)
            handle.write("\n")
    except OSError as exc:
        raise OutputError(f"report {p}: cannot write ({exc})") from None
    return p


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
