"""Cameras' raw files (DNG, CR2/CR3, NEF, ARW, RAF, ORF ...), through LibRaw.

Needs ``rawpy`` (LibRaw in a wheel; the ``raw`` extra: ``pip install "photostyle[raw]"``).
A raw file is developed the plainest way, so that the look is all photostyle's:

* demosaiced by LibRaw (AHD) at full size, with **the camera's white balance** (as shot);
* into **ProPhoto RGB** (a gamut wider than any camera's colours reach in practice), at 16
  bits, in linear light from LibRaw and encoded here with ProPhoto's own tone curve (gamma
  1.8), with the ICC profile that says so (:func:`photostyle.files.icc.make_profile`);
* with the camera's orientation applied;
* **not applied**: no tone curve or automatic brightening (the exposure as shot), no lens
  corrections (distortion, vignetting, chromatic aberration), no noise reduction, and not the
  camera's picture style or film simulation: those live in the maker's software. Develop in
  an editor first when they matter, and hand photostyle its 16-bit TIFF.

The output of a raw content is a 16-bit TIFF by default. Its EXIF (camera, lens, exposure,
date, GPS) is carried from TIFF-based raws (DNG, CR2, NEF, ARW, ORF, PEF ...), less the raw
file's own layout and maker tags; CR3, RAF and other non-TIFF raws are read without it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from photostyle.errors import InputError

if TYPE_CHECKING:
    from photostyle.files.images import Photo
    from photostyle.files.metadata import Metadata

log = logging.getLogger(__name__)

#: Extensions of raw files (LibRaw reads many more cameras' files than these names).
RAW_EXTENSIONS = frozenset({".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf",
                            ".sr2", ".raf", ".orf", ".rw2", ".pef", ".srw", ".x3f", ".3fr",
                            ".iiq", ".erf", ".mef", ".mos", ".kdc", ".dcr", ".rwl"})

INSTALL_HINT = 'install the raw extra: pip install "photostyle[raw]" (rawpy, LibRaw)'

#: The working space raw files are developed into.
RAW_SPACE = "ProPhoto RGB"

#: IFD0 tags of a raw file carried to its output (the rest describe the raw data, its
#: preview or the maker's private structures); the EXIF and GPS directories go whole.
CARRIED_IFD0 = frozenset({0x010F, 0x0110, 0x0131, 0x0132, 0x013B, 0x8298, 0x0112})


def is_raw(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a raw file (by its extension)."""
    return Path(path).suffix.lower() in RAW_EXTENSIONS


def read_raw(path: str | os.PathLike, *, max_pixels: int, what: str = "image") -> Photo:
    """Develop a raw file as described above: a :class:`~photostyle.files.images.Photo` of
    ``(H, W, 3)`` float32 in [0, 1], encoded in ProPhoto RGB, 16 bits.

    Raises:
        InputError: rawpy missing, LibRaw refusing the file, or a file over ``max_pixels``.
    """
    from photostyle.files import icc
    from photostyle.files.images import Photo, pixel_count
    from photostyle.files.paths import check_input_file

    p = check_input_file(path, what)
    try:
        import rawpy
    except ImportError:
        raise InputError(f"{what} {p}: a camera raw file; to read it, {INSTALL_HINT}; or "
                         "export a 16-bit TIFF from your raw editor") from None
    try:
        with rawpy.imread(str(p)) as raw:
            width, height = raw.sizes.width, raw.sizes.height
            if width < 1 or height < 1:
                raise InputError(f"{what} {p}: LibRaw finds no image in it")
            if width * height > max_pixels:
                raise InputError(f"{what} {p}: {width}x{height} = "
                                 f"{pixel_count(width * height)} exceeds the limit of "
                                 f"{pixel_count(max_pixels)} (raise --max-pixels if the file "
                                 "is trusted)")
            linear = raw.postprocess(use_camera_wb=True, output_color=rawpy.ColorSpace.ProPhoto,
                                     output_bps=16, gamma=(1, 1), no_auto_bright=True,
                                     user_flip=None)
    except InputError:
        raise
    except (rawpy.LibRawError, OSError, ValueError, MemoryError) as exc:
        reason = str(exc) or type(exc).__name__
        raise InputError(f"{what} {p}: LibRaw cannot read it as a raw file ({reason})") from None
    profile = icc.space(RAW_SPACE)
    pixels = np.empty(linear.shape, np.float32)
    for top in range(0, linear.shape[0], 256):  # the curves work in float64: a band at a time
        light = linear[top : top + 256].astype(np.float64) / 65535.0
        for i, curve in enumerate(profile.curves):
            pixels[top : top + 256, :, i] = np.clip(curve.to_encoded(light[..., i]), 0.0, 1.0)
    return Photo(pixels, profile, profile.data, 16,
                 f"raw developed by LibRaw (camera white balance, {RAW_SPACE}, no tone curve)")


def read_raw_metadata(path: str | os.PathLike) -> Metadata:
    """The EXIF of a TIFF-based raw file (its camera, lens, exposure, date and GPS), with the
    orientation set to 1 (the developed pixels are upright); empty for other raws."""
    import mmap

    from photostyle.files import exif as tiff
    from photostyle.files.exif import ORIENTATION
    from photostyle.files.metadata import Metadata

    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
            if head not in (b"II*\0", b"MM\0*", b"IIRO", b"IIRS", b"IIU\0"):
                log.info("%s: not a TIFF-based raw; its EXIF is not carried", path)
                return Metadata()
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                dirs = tiff.read_directories(data)  # type: ignore[arg-type]
    except (tiff.ExifError, OSError, ValueError) as exc:
        log.warning("%s: its EXIF cannot be read, not carried (%s)", path, exc)
        return Metadata()
    kept = tiff.Directories([e for e in dirs.ifd0 if e.tag in CARRIED_IFD0],
                            {tag: entries for tag, entries in dirs.subs.items()
                             if tag in tiff.SUB_IFDS})
    if kept.get(ORIENTATION) is not None:
        kept = kept.replace(tiff.Entry.short(ORIENTATION, 1))
    if not len(kept):
        return Metadata()
    return Metadata(b"Exif\0\0" + tiff.build(kept), None)
