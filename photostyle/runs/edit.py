"""Editing a photo in place, as an external editor does (``photostyle edit``).

Lightroom Classic's "Edit In" and Capture One's "Open With" make a copy of the photo (a
16-bit TIFF, usually in ProPhoto RGB or Adobe RGB, with its metadata), hand its path to the
editor as the only argument and, when the editor returns, show what the file then holds.
:func:`edit_in_place` writes the result into that file safely: a complete new file is written
beside it under a hidden name, read back and checked (size, bit depth, colour profile), given
the original's permissions and only then renamed over it, so that the original stays until
the new one is whole and any failure leaves it as it was.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any

from photostyle.errors import InputError, OutputError

log = logging.getLogger(__name__)


def editable(path: str | os.PathLike) -> Path:
    """The file ``path`` (a link followed to its target) if it can be edited in place: an
    existing photo in a format photostyle writes, in a folder it can write to.

    Raises:
        InputError: missing, not a regular file, or read-only.
        OutputError: a format photostyle cannot write, or a folder it cannot write to.
    """
    from photostyle.files.paths import check_input_file
    from photostyle.files.writers import WRITE_FORMATS, check_format

    p = check_input_file(path, "photo to edit").resolve()
    fmt = WRITE_FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise OutputError(f"photo to edit {p}: photostyle cannot write {p.suffix or 'it'} "
                          f"files back ({', '.join(sorted(WRITE_FORMATS))}); have the editor "
                          "send a TIFF")
    check_format(p, 8, None)  # e.g. HEIC without pillow-heif
    if not os.access(p, os.W_OK):
        raise InputError(f"photo to edit {p}: the file is read-only")
    if not os.access(p.parent, os.W_OK | os.X_OK):
        raise OutputError(f"photo to edit {p}: its folder {p.parent} is not writable")
    return p


def temporary_name(path: Path) -> Path:
    """The hidden name the new file is written under before it replaces ``path``."""
    return path.with_name(f".{path.name[:96]}.photostyle-edit{path.suffix}")


def read_back(path: Path, max_pixels: int) -> Any:
    """The new file as a reader sees it (a :class:`~photostyle.files.images.Photo`)."""
    from photostyle.files.images import read_photo

    return read_photo(path, max_pixels=max_pixels, what="edited photo")


def edit_in_place(result: Any, path: str | os.PathLike, *, quality: int = 95) -> Path:
    """Write ``result`` (a :class:`~photostyle.engine.pipeline.TransferResult` made from
    ``path``) into ``path`` itself.

    The file keeps its format, its colour profile (the result is encoded in it), its bit
    depth (16 when it has 16 and its format holds them) and its metadata (as
    :meth:`~photostyle.files.metadata.Metadata.for_output` carries it, with an ``edited``
    history event).

    Raises:
        OutputError: the new file cannot be written or does not read back as written; the
            original is then untouched.
    """
    from photostyle.files.metadata import read_metadata
    from photostyle.files.writers import default_bit_depth

    p = editable(path)
    before = p.stat()
    metadata = read_metadata(p).for_output(action="edited", source=str(p))
    depth = default_bit_depth(p, result.bit_depth)
    tmp = temporary_name(p)
    try:
        result.save(tmp, quality=quality, metadata=metadata, bit_depth=depth)
        check = read_back(tmp, result.image.shape[0] * result.image.shape[1])
        problems = []
        if check.pixels.shape != result.image.shape:
            problems.append(f"size {check.pixels.shape[:2]} instead of "
                            f"{result.image.shape[:2]}")
        if check.bit_depth != depth:
            problems.append(f"{check.bit_depth} bits instead of {depth}")
        if result.icc_profile and check.icc != result.icc_profile:
            problems.append("its colour profile did not survive")
        if problems:
            raise OutputError(f"photo to edit {p}: the new file read back wrong "
                              f"({'; '.join(problems)}); the original is unchanged")
        os.chmod(tmp, before.st_mode & 0o7777)
        os.replace(tmp, p)
    except InputError as exc:
        raise OutputError(f"photo to edit {p}: the new file does not read back ({exc}); the "
                          "original is unchanged") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    log.info("edited %s in place", p)
    return p
