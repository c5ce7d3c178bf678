"""Writing images (8 and 16 bits, with profiles and metadata) and reports, atomically."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image

from photostyle.errors import OutputError
from photostyle.files import icc
from photostyle.files.images import to_uint8
from photostyle.files.metadata import PNG_XMP_KEY, STRUCTURE_TAGS, XMP_TAG, Metadata

log = logging.getLogger(__name__)

#: Extensions that :func:`save_image` writes, with the Pillow format name.
WRITE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".heic": "HEIF",
    ".heif": "HEIF",
    ".avif": "AVIF",
}


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


#: Formats that can hold 16 bits per channel (written by :func:`save_image`).
SIXTEEN_BIT_FORMATS = ("PNG", "TIFF")


#: Formats with a place for an ICC profile.
PROFILE_FORMATS = ("PNG", "JPEG", "TIFF", "WEBP", "HEIF", "AVIF")

#: Formats with a quality setting (``--jpeg-quality``).
QUALITY_FORMATS = ("JPEG", "WEBP", "HEIF", "AVIF")


def save_image(image: np.ndarray, path: str | os.PathLike, *, quality: int = 95,
               metadata: Metadata | None = None, bit_depth: int = 8,
               icc_profile: bytes | None = None) -> Path:
    """Write an ``(H, W, 3)`` float image in [0, 1] atomically; format from the extension.

    Args:
        quality: JPEG and WebP quality (1-100).
        metadata: EXIF and XMP to embed (JPEG, PNG, TIFF, WebP, HEIF, AVIF; BMP has no
            place for them).
        bit_depth: 8, or 16 for PNG and TIFF (16-bit PNG is encoded by OpenCV; TIFF is
            written here, 8 or 16 bits, with the EXIF's own tag types: Pillow writes 8-bit
            RGB only and re-types EXIF tags).
        icc_profile: ICC bytes of the colour profile the pixels are encoded in, embedded
            (PNG, JPEG, TIFF, WebP, HEIF, AVIF); ``None``: none (sRGB by convention).

    Raises:
        OutputError: unknown extension, a format without 16 bits or a colour profile asked
            for one, or the file cannot be written.
    """
    p = check_image_extension(path)
    fmt = WRITE_FORMATS[p.suffix.lower()]
    if icc_profile and fmt not in PROFILE_FORMATS and _is_srgb(icc_profile):
        icc_profile = None  # sRGB is what an untagged file means
    check_format(p, bit_depth, icc_profile)
    try:
        if bit_depth == 16:
            pixels = (np.clip(image, 0.0, 1.0) * 65535.0 + 0.5).astype(np.uint16)
            data = (_png16(pixels, metadata, icc_profile) if fmt == "PNG"
                    else _tiff(pixels, metadata, icc_profile))
            with atomic_write(p) as handle:
                handle.write(data)
            return p
        if fmt == "TIFF":
            with atomic_write(p) as handle:
                handle.write(_tiff(to_uint8(image), metadata, icc_profile))
            return p
        pil = Image.fromarray(to_uint8(image))
        kwargs = _pillow_metadata(fmt, metadata)
        if fmt in QUALITY_FORMATS:
            kwargs["quality"] = quality
        if icc_profile:
            kwargs["icc_profile"] = icc_profile
        with atomic_write(p) as handle:
            pil.save(handle, format=fmt, **kwargs)
    except OSError as exc:
        raise OutputError(f"output {p}: cannot write ({exc})") from None
    return p


def _is_srgb(data: bytes) -> bool:
    try:
        return icc.parse_rgb_profile(data).same_as(icc.srgb())
    except icc.ProfileError:
        return False


def check_format(path: Path, bit_depth: int, icc_profile: bytes | None) -> None:
    """Refuse a bit depth or a colour profile the file's format cannot hold.

    Raises:
        OutputError: naming the file and what to do.
    """
    fmt = WRITE_FORMATS.get(path.suffix.lower())
    if fmt == "HEIF":
        from photostyle.files import heif

        if not heif.available():
            raise OutputError(f"output {path}: to write HEIF/HEIC, {heif.INSTALL_HINT}; or "
                              "write a .jpg, .avif or .tif")
    if fmt == "AVIF":
        from PIL import features

        if not features.check("avif"):
            raise OutputError(f"output {path}: this Pillow was built without AVIF; write a "
                              ".jpg or .tif, or install a Pillow wheel (11.3 or later)")
    if bit_depth not in (8, 16):
        raise OutputError(f"output {path}: bit depth must be 8 or 16, got {bit_depth}")
    if bit_depth == 16 and fmt not in SIXTEEN_BIT_FORMATS:
        raise OutputError(f"output {path}: {fmt} holds 8 bits per channel only; write a .png "
                          "or .tif for 16 bits, or use --bit-depth 8")
    if icc_profile and fmt not in PROFILE_FORMATS:
        raise OutputError(f"output {path}: {fmt} has no place for a colour profile; write "
                          "PNG, JPEG, TIFF or WebP, or use --output-profile srgb")


def _pillow_metadata(fmt: str, metadata: Metadata | None) -> dict[str, Any]:
    """Pillow ``save`` arguments that embed ``metadata`` in a file of format ``fmt``."""
    kwargs: dict[str, Any] = {}
    if not metadata or fmt == "BMP":
        return kwargs
    if metadata.exif:
        kwargs["exif"] = _jpeg_exif(metadata.exif) if fmt == "JPEG" else metadata.exif
    if metadata.xmp:
        if fmt == "PNG":
            from PIL.PngImagePlugin import PngInfo

            info = PngInfo()
            info.add_itxt(PNG_XMP_KEY, metadata.xmp.decode("utf-8", "replace"))
            kwargs["pnginfo"] = info
        else:
            kwargs["xmp"] = metadata.xmp
    return kwargs


def _jpeg_exif(exif: bytes) -> bytes:
    """A JPEG's EXIF: with ``YCbCrPositioning``, which the EXIF standard requires of a JPEG's
    first directory (a TIFF or PNG content's EXIF has none)."""
    from photostyle.files import exif as tiff

    try:
        dirs = tiff.read_directories(exif[6:] if exif.startswith(b"Exif\0\0") else exif)
    except (tiff.ExifError, ValueError):
        return exif
    if dirs.get(YCBCR_POSITIONING) is not None:
        return exif
    return b"Exif\0\0" + tiff.build(dirs.replace(tiff.Entry.short(YCBCR_POSITIONING, 1)))


#: EXIF tag: where chroma samples sit (1: centred), required in a JPEG's IFD0.
YCBCR_POSITIONING = 0x0213


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png16(pixels: np.ndarray, metadata: Metadata | None, icc_profile: bytes | None) -> bytes:
    """A 16-bit RGB PNG of ``(H, W, 3)`` uint16 pixels, with the profile (``iCCP``), EXIF
    (``eXIf``) and XMP (``iTXt``) chunks placed after the header."""
    import zlib

    import cv2

    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(pixels[..., ::-1]))
    if not ok:
        raise OSError("OpenCV could not encode the 16-bit PNG")
    data = encoded.tobytes()
    chunks = b""
    if icc_profile:
        chunks += _png_chunk(b"iCCP", b"ICC profile\0\0" + zlib.compress(icc_profile))
    if metadata and metadata.exif:
        exif = metadata.exif[6:] if metadata.exif.startswith(b"Exif\0\0") else metadata.exif
        chunks += _png_chunk(b"eXIf", exif)
    if metadata and metadata.xmp:
        chunks += _png_chunk(b"iTXt", PNG_XMP_KEY.encode() + b"\0\0\0\0\0" + metadata.xmp)
    header_end = 8 + 25  # signature, then IHDR (4 length + 4 type + 13 data + 4 CRC)
    return data[:header_end] + chunks + data[header_end:]


#: Rows per strip of the TIFFs written here (each strip deflate-compressed).
TIFF_ROWS_PER_STRIP = 64


#: TIFF tags of the resolution, kept from the content or set to 72 dpi.
_RESOLUTION = (282, 283, 296)


def _tiff(pixels: np.ndarray, metadata: Metadata | None, icc_profile: bytes | None) -> bytes:
    """An RGB TIFF (deflate strips, little-endian) of ``(H, W, 3)`` uint8 or uint16 pixels,
    with the content's EXIF (every tag with its own type, in IFD0 and its EXIF and GPS
    directories), XMP (tag 700) and ICC profile (tag 34675)."""
    import zlib

    from photostyle.files import exif as tiff

    dirs = tiff.Directories([], {})
    if metadata and metadata.exif:
        block = metadata.exif
        try:
            dirs = tiff.read_directories(block[6:] if block.startswith(b"Exif\0\0")
                                         else block).without(STRUCTURE_TAGS)
        except tiff.ExifError as exc:
            log.warning("the EXIF given is not a TIFF structure (%s); written without it", exc)
        # the interoperability directory (a JPEG's DCF index) is no TIFF's: libtiff warns
        dirs.subs.pop(tiff.INTEROP_IFD, None)
    h, w = pixels.shape[:2]
    bits = pixels.dtype.itemsize * 8
    data = pixels.astype("<u2" if bits == 16 else np.uint8, copy=False)
    strips = [zlib.compress(np.ascontiguousarray(data[top : top + TIFF_ROWS_PER_STRIP]).tobytes(),
                            6) for top in range(0, h, TIFF_ROWS_PER_STRIP)]
    E = tiff.Entry
    entries = [E.long(256, w), E.long(257, h), E.short(258, bits, bits, bits),
               E.short(259, 8), E.short(262, 2), E.short(277, 3),
               E.long(278, TIFF_ROWS_PER_STRIP), E.short(284, 1)]
    if not any(dirs.get(tag) for tag in _RESOLUTION):
        entries += [E.rational(282, 72, 1), E.rational(283, 72, 1), E.short(296, 2)]
    if metadata and metadata.xmp:
        entries.append(E.raw(XMP_TAG, metadata.xmp, kind=1))
    if icc_profile:
        entries.append(E.raw(34675, icc_profile))
    for entry in entries:
        dirs = dirs.replace(entry)
    return tiff.build(dirs, strips)


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


def default_bit_depth(path: str | os.PathLike, content_bits: int) -> int:
    """16 when the content has 16 bits and ``path``'s format holds them, else 8."""
    from photostyle.files.writers import SIXTEEN_BIT_FORMATS, WRITE_FORMATS

    fmt = WRITE_FORMATS.get(Path(path).suffix.lower())
    return 16 if content_bits == 16 and fmt in SIXTEEN_BIT_FORMATS else 8
