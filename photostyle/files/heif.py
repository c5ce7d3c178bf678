"""HEIF/HEIC (phones' photos) and AVIF: which files they are, and the optional reader.

HEIC is what iPhones (since 2017) and many Android phones save. Pillow reads and writes AVIF
itself; HEIF/HEIC needs ``pillow-heif`` (the ``heif`` extra: ``pip install
"photostyle[heif]"``), whose opener is registered with Pillow the first time a HEIF file is
met. A 10- or 12-bit HEIC is read at full precision (see :func:`read_high_bit_depth`); its
colour comes from its ICC profile or, for phones that write none, from its ``nclx`` colour
description (Display P3 primaries with the sRGB curve, see :func:`nclx_space`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: Extensions of HEIF files (HEIC: HEVC-coded HEIF, what phones write).
HEIF_EXTENSIONS = frozenset({".heic", ".heif", ".hif"})

#: AVIF (AV1-coded HEIF), read and written by Pillow itself.
AVIF_EXTENSIONS = frozenset({".avif"})

#: ``ftyp`` brands of HEVC-coded HEIF files (the bytes after ``ftyp`` at offset 8).
HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm",
                         b"hevs", b"mif1", b"msf1"})

INSTALL_HINT = 'install the heif extra: pip install "photostyle[heif]" (pillow-heif)'


@lru_cache(maxsize=1)
def available() -> bool:
    """Whether HEIF files can be read and written (``pillow-heif`` is installed); the first
    call registers its opener with Pillow."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


def looks_like_heif(path: str | Path) -> bool:
    """Whether ``path`` is a HEVC-coded HEIF file, by its extension or its ``ftyp`` box."""
    p = Path(path)
    if p.suffix.lower() in HEIF_EXTENSIONS:
        return True
    try:
        with p.open("rb") as handle:
            head = handle.read(12)
    except OSError:
        return False
    return head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS


def read_high_bit_depth(path: str | os.PathLike) -> np.ndarray:
    """The pixels of a 10- or 12-bit HEIF's primary image: ``(H, W, 3)`` float32 in [0, 1],
    upright (libheif applies the file's rotation and mirroring), alpha over white."""
    import pillow_heif

    heif = pillow_heif.open_heif(str(path), convert_hdr_to_8bit=False)
    primary = heif.primary if hasattr(heif, "primary") else heif[0]
    array = np.asarray(primary)
    if array.dtype != np.uint16 or array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"unexpected {primary.mode} pixels")
    rgb = array[..., :3].astype(np.float32) / 65535.0
    if array.shape[2] == 4:
        alpha = array[..., 3:4].astype(np.float32) / 65535.0
        rgb = rgb * alpha + (1.0 - alpha)
    return np.ascontiguousarray(rgb)


#: nclx colour primaries (ITU-T H.273) -> the working space photostyle reads them as.
NCLX_PRIMARIES = {1: None, 2: None, 12: "Display P3"}

#: nclx transfer characteristics read with the sRGB curve: sRGB (13), and BT.709/601-like
#: curves (1, 6, 14, 15), which phones' SDR photos are displayed with as sRGB.
NCLX_SDR_TRANSFERS = frozenset({1, 2, 6, 13, 14, 15})


def nclx_space(info: Mapping[Any, Any], name: str) -> str | None:
    """The working space (a name in :data:`photostyle.files.icc.SPACES`) of a HEIF/AVIF that
    describes its colour by ``nclx`` instead of an ICC profile; ``None``: sRGB.

    Unknown primaries or an HDR curve (PQ, HLG) are reported and read as sRGB.
    """
    nclx = info.get("nclx_profile")
    if not isinstance(nclx, dict):
        return None
    primaries = int(nclx.get("color_primaries", 2))
    transfer = int(nclx.get("transfer_characteristics", 2))
    if primaries not in NCLX_PRIMARIES or transfer not in NCLX_SDR_TRANSFERS:
        log.warning("%s: colour described as nclx primaries %d, transfer %d, which photostyle "
                    "does not convert (HDR or an unusual gamut); read as sRGB",
                    name, primaries, transfer)
        return None
    return NCLX_PRIMARIES[primaries]
