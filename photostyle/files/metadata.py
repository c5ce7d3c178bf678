"""A photo's descriptive metadata (EXIF, XMP), read to be carried to its output."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass

from PIL import Image

from photostyle.files.exif import ORIENTATION
from photostyle.files.images import pillow_limit

log = logging.getLogger(__name__)


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

    def for_output(self, *, action: str = "converted", source: str = "content") -> Metadata:
        """The metadata of an output made from this photo: the XMP as
        :func:`photostyle.files.xmp.for_output` makes it (a new instance, photostyle's history
        entry, no raw develop settings; a fresh packet when the photo had none) and the EXIF
        with ``Software`` naming photostyle."""
        from photostyle.files import exif as tiff
        from photostyle.files import xmp as packets

        tool = packets.tool_name()
        exif = self.exif
        if exif:
            try:
                dirs = tiff.read_directories(exif[6:] if exif.startswith(b"Exif\0\0") else exif)
                dirs = dirs.replace(tiff.Entry.raw(SOFTWARE, tool.encode("ascii") + b"\0", 2))
                exif = b"Exif\0\0" + tiff.build(dirs)
            except (tiff.ExifError, ValueError) as exc:
                log.warning("%s: EXIF not carried (%s)", source, exc)
                exif = None
        return Metadata(exif, packets.for_output(self.xmp, action=action, source=source))


#: EXIF/TIFF tag naming the software that made the file.
SOFTWARE = 0x0131

#: TIFF tag holding an XMP packet.
XMP_TAG = 700


#: PNG text key of an XMP packet (an iTXt chunk).
PNG_XMP_KEY = "XML:com.adobe.xmp"


#: TIFF tags that describe how a file's pixels are stored (size, samples, compression,
#: strips and tiles, colour map, ICC profile, XMP): a TIFF content's ``getexif()`` holds them
#: beside the EXIF proper, and they must not travel to a file laid out differently.
STRUCTURE_TAGS = frozenset({254, 255, 256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 280,
                            281, 284, 317, 320, 322, 323, 324, 325, 330, 338, 339, 340, 341,
                            347, 513, 514, 530, 531, 532, XMP_TAG, 34675})


def read_metadata(path: str | os.PathLike) -> Metadata:
    """The EXIF and XMP of an image file (see :class:`Metadata`); an empty one when the file
    has none or they cannot be parsed (a broken EXIF block is dropped with a warning, never
    an error: the pixels matter more).

    The EXIF is rebuilt as a classic TIFF structure with every tag's own type
    (:mod:`photostyle.exif`; a TIFF or BigTIFF content's own directory included, less the
    tags of its pixel layout), the orientation set to 1, in EXIF and in the XMP's
    ``tiff:Orientation`` alike: the pixels written are upright.
    """
    from photostyle.files import exif as tiff
    from photostyle.files import raw as raws

    if raws.is_raw(path):
        return raws.read_raw_metadata(path)
    try:
        with pillow_limit(None), Image.open(path) as im:  # no pixel is decoded
            fmt = im.format
            xmp = im.info.get("xmp")
            if xmp is None and isinstance(im.info.get(PNG_XMP_KEY), str):
                xmp = im.info[PNG_XMP_KEY]
            raw = im.info.get("exif") if fmt != "TIFF" else None
            if fmt != "TIFF" and not raw and len(im.getexif()):  # e.g. a PNG text chunk
                raw = im.getexif().tobytes()
    except Exception as exc:  # metadata is optional: say so and go on
        log.warning("%s: metadata not readable, not carried (%s)", path, exc)
        return Metadata()
    exif_bytes = None
    try:
        if fmt == "TIFF":
            import mmap

            with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0,
                                                      access=mmap.ACCESS_READ) as data:
                dirs = tiff.read_directories(data)  # type: ignore[arg-type]
        elif raw:
            block = bytes(raw)
            dirs = tiff.read_directories(block[6:] if block.startswith(b"Exif\0\0") else block)
        else:
            dirs = tiff.Directories([], {})
        dirs = dirs.without(STRUCTURE_TAGS)
        if dirs.get(ORIENTATION) is not None:
            dirs = dirs.replace(tiff.Entry.short(ORIENTATION, 1))
        if len(dirs):
            exif_bytes = b"Exif\0\0" + tiff.build(dirs)
    except (tiff.ExifError, OSError, ValueError) as exc:
        log.warning("%s: its EXIF cannot be read, not carried (%s)", path, exc)
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8")
    xmp = upright_xmp(xmp) if isinstance(xmp, bytes) and xmp else None
    return Metadata(exif_bytes, xmp)


_XMP_ORIENTATION = re.compile(
    rb"(tiff:Orientation\s*=\s*[\"'])\s*\d+\s*([\"'])|"
    rb"(<tiff:Orientation>)\s*\d+\s*(</tiff:Orientation>)")


def upright_xmp(xmp: bytes) -> bytes:
    """An XMP packet with ``tiff:Orientation`` (attribute or element) set to 1."""
    def one(match: re.Match[bytes]) -> bytes:
        if match.group(1) is not None:
            return match.group(1) + b"1" + match.group(2)
        return match.group(3) + b"1" + match.group(4)

    return _XMP_ORIENTATION.sub(one, xmp)
