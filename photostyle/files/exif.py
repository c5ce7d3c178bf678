"""TIFF directories read and written byte for byte: EXIF blocks and the TIFFs photostyle writes.

EXIF is a TIFF structure: a header, then directories (IFDs) of 12-byte entries ``(tag, type,
count, value or offset)``, with the EXIF, GPS and interoperability tags in sub-directories
that IFD0 points to. Pillow re-creates sub-directories from plain values, so a tag loses its
recorded type (``ComponentsConfiguration``, UNDEFINED, comes back as BYTE and libtiff drops
it), and it cannot turn a BigTIFF's directory (20-byte entries, 64-bit offsets) into a
classic one. Here every entry keeps its type and its bytes (swapped to the output's byte
order element by element); BigTIFF's 64-bit types become 32-bit ones where the value fits
(else the entry is dropped). Only IFD0 and its EXIF, GPS and interoperability directories
are carried: IFD1 (the thumbnail, of the old pixels) and maker-note internals are not
interpreted (a maker note travels as its bytes).

Everything is read through bounds checks: a broken or hostile block yields what could be
read, never an exception beyond :class:`ExifError`, and never a loop.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: Bytes per element of each TIFF field type.
TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8,
             13: 4, 16: 8, 17: 8, 18: 8}
#: Size of the units swapped for byte order (a rational is two 4-byte numbers).
_UNIT = {5: 4, 10: 4}
#: BigTIFF's 64-bit types and the 32-bit types they become when the value fits.
_NARROW = {16: (4, "I"), 17: (9, "i"), 18: (13, "I")}

#: EXIF tag of the orientation (1: upright).
ORIENTATION = 0x0112
EXIF_IFD = 0x8769
GPS_IFD = 0x8825
INTEROP_IFD = 0xA005
#: Sub-directories carried, by the tag that points to them (interop lives in EXIF's).
SUB_IFDS = (EXIF_IFD, GPS_IFD)
#: Most entries read from one directory (real ones hold a few dozen).
MAX_ENTRIES = 1000
#: Largest value of one entry carried (a maker note or an embedded preview is smaller).
MAX_VALUE_BYTES = 4 * 2**20


class ExifError(ValueError):
    """A block that is not a TIFF structure at all."""


@dataclass(frozen=True)
class Entry:
    """One directory entry: ``value`` is its ``count`` elements of ``kind`` as bytes, in
    little-endian order (the byte order photostyle writes)."""

    tag: int
    kind: int
    count: int
    value: bytes

    @classmethod
    def short(cls, tag: int, *values: int) -> Entry:
        return cls(tag, 3, len(values), struct.pack(f"<{len(values)}H", *values))

    @classmethod
    def long(cls, tag: int, *values: int) -> Entry:
        return cls(tag, 4, len(values), struct.pack(f"<{len(values)}I", *values))

    @classmethod
    def raw(cls, tag: int, data: bytes, kind: int = 7) -> Entry:
        return cls(tag, kind, len(data), data)

    @classmethod
    def rational(cls, tag: int, numerator: int, denominator: int) -> Entry:
        return cls(tag, 5, 1, struct.pack("<II", numerator, denominator))

    def ints(self) -> tuple[int, ...]:
        """The values of a BYTE, SHORT or LONG entry."""
        code = {1: "B", 3: "H", 4: "I", 6: "b", 8: "h", 9: "i"}.get(self.kind)
        if code is None:
            return ()
        return struct.unpack(f"<{self.count}{code}", self.value)


@dataclass
class Directories:
    """IFD0's entries and the carried sub-directories (see :data:`SUB_IFDS`; the
    interoperability directory is ``subs[INTEROP_IFD]``), pointers left out."""

    ifd0: list[Entry]
    subs: dict[int, list[Entry]]

    def get(self, tag: int) -> Entry | None:
        return next((e for e in self.ifd0 if e.tag == tag), None)

    def without(self, tags: Iterable[int]) -> Directories:
        drop = set(tags)
        return Directories([e for e in self.ifd0 if e.tag not in drop], dict(self.subs))

    def replace(self, entry: Entry) -> Directories:
        """A copy with ``entry`` in IFD0 in place of any entry of its tag."""
        return Directories([e for e in self.ifd0 if e.tag != entry.tag] + [entry],
                           dict(self.subs))

    def __len__(self) -> int:
        return len(self.ifd0) + sum(len(v) for v in self.subs.values())


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        if data[:2] == b"II":
            self.endian = "<"
        elif data[:2] == b"MM":
            self.endian = ">"
        else:
            raise ExifError("not a TIFF structure (no II or MM byte order mark)")
        if len(data) < 8:
            raise ExifError("the block is too short")
        (magic,) = self.unpack("H", 2)
        if magic == 42:
            self.big = False
            (self.first,) = self.unpack("I", 4)
        elif magic == 43 and len(data) >= 16:
            self.big = True
            size, zero = self.unpack("HH", 4)
            if size != 8 or zero != 0:
                raise ExifError("a BigTIFF header with an unknown offset size")
            (self.first,) = self.unpack("Q", 8)
        else:
            raise ExifError(f"not a TIFF structure (magic number {magic})")
        self.seen: set[int] = set()

    def unpack(self, fmt: str, offset: int) -> tuple[int, ...]:
        size = struct.calcsize(self.endian + fmt)
        if offset < 0 or offset + size > len(self.data):
            raise ExifError("an offset beyond the block")
        return struct.unpack_from(self.endian + fmt, self.data, offset)

    def directory(self, offset: int) -> list[tuple[Entry, int]]:
        """The entries at ``offset`` (with where each entry's value field lies), ``[]`` for
        a bad or already visited offset."""
        if offset in self.seen or offset <= 0 or offset >= len(self.data):
            return []
        self.seen.add(offset)
        try:
            (count,) = self.unpack("Q" if self.big else "H", offset)
        except ExifError:
            return []
        size, field, head = (20, 8, 8) if self.big else (12, 4, 2)
        out = []
        for i in range(min(count, MAX_ENTRIES)):
            at = offset + head + i * size
            try:
                tag, kind = self.unpack("HH", at)
                (n,) = self.unpack("Q" if self.big else "I", at + 4)
            except ExifError:
                break
            unit = TYPE_SIZE.get(kind)
            if unit is None or n == 0 or n * unit > MAX_VALUE_BYTES:
                continue
            length = n * unit
            where = at + 4 + (8 if self.big else 4)
            if length > field:
                try:
                    (where,) = self.unpack("Q" if self.big else "I", where)
                except ExifError:
                    continue
            if where + length > len(self.data):
                continue
            raw = self.data[where:where + length]
            entry = self._entry(tag, kind, n, raw)
            if entry is not None:
                out.append((entry, where))
        return out

    def _entry(self, tag: int, kind: int, n: int, raw: bytes) -> Entry | None:
        if kind in _NARROW:  # BigTIFF's 64-bit values: 32 bits where they fit
            values = struct.unpack(f"{self.endian}{n}{'q' if kind == 17 else 'Q'}", raw)
            narrow, code = _NARROW[kind]
            try:
                return Entry(tag, narrow, n, struct.pack(f"<{n}{code}", *values))
            except struct.error:
                return None
        unit = _UNIT.get(kind, TYPE_SIZE[kind])
        if self.endian == ">" and unit > 1:
            raw = b"".join(raw[i:i + unit][::-1] for i in range(0, len(raw), unit))
        return Entry(tag, kind, n, raw)

    def pointer(self, entry: Entry) -> int | None:
        values = entry.ints()
        return values[0] if values and entry.kind in (4, 13) else None


def read_directories(data: bytes) -> Directories:
    """IFD0 and its EXIF, GPS and interoperability directories of a TIFF structure (an
    EXIF block without its ``Exif\\0\\0`` prefix, or a whole TIFF or BigTIFF file's bytes).

    Raises:
        ExifError: ``data`` is not a TIFF structure.
    """
    reader = _Reader(data)
    ifd0: list[Entry] = []
    subs: dict[int, list[Entry]] = {}
    for entry, _ in reader.directory(reader.first):
        if entry.tag in SUB_IFDS:
            offset = reader.pointer(entry)
            if offset is None:
                continue
            inner = []
            for sub, _ in reader.directory(offset):
                if entry.tag == EXIF_IFD and sub.tag == INTEROP_IFD:
                    pointer = reader.pointer(sub)
                    if pointer is not None:
                        subs[INTEROP_IFD] = [e for e, _ in reader.directory(pointer)]
                    continue
                inner.append(sub)
            subs[entry.tag] = inner
        else:
            ifd0.append(entry)
    return Directories(ifd0, subs)


def tag_positions(data: bytes, tag: int) -> list[tuple[int, int]]:
    """Where the values of ``tag`` lie in IFD0 of a TIFF's bytes: ``(offset, type)`` of
    each (for patching a value in place).

    Raises:
        ExifError: not a TIFF structure.
    """
    reader = _Reader(data)
    return [(where, e.kind) for e, where in reader.directory(reader.first) if e.tag == tag]


def endian_of(data: bytes | bytearray) -> str:
    """``"<"`` or ``">"``: the byte order of a TIFF structure."""
    return "<" if data[:2] == b"II" else ">"


def _ifd(entries: Sequence[Entry], start: int, pointers: dict[int, int],
         next_ifd: int = 0) -> bytes:
    """One classic little-endian directory at ``start`` with its out-of-line values after
    it; ``pointers`` gives the values of pointer tags (sub-directories, strips)."""
    entries = sorted(entries, key=lambda e: e.tag)
    size = 2 + 12 * len(entries) + 4
    head = [struct.pack("<H", len(entries))]
    tail = bytearray()
    for e in entries:
        value = e.value
        if e.tag in pointers:
            value = struct.pack("<I", pointers[e.tag])
        if len(value) <= 4:
            field = value.ljust(4, b"\0")
        else:
            if (start + size + len(tail)) % 2:
                tail += b"\0"  # values start on a word boundary
            field = struct.pack("<I", start + size + len(tail))
            tail += value
        head.append(struct.pack("<HHI", e.tag, e.kind, e.count) + field)
    head.append(struct.pack("<I", next_ifd))
    return b"".join(head) + bytes(tail)


def _length(entries: Sequence[Entry]) -> int:
    n = 2 + 12 * len(entries) + 4
    for e in entries:
        if len(e.value) > 4:
            n += len(e.value) + 1  # at most one pad byte each
    return n


def build(dirs: Directories, strips: Sequence[bytes] = ()) -> bytes:
    """A classic little-endian TIFF structure of ``dirs``: the header, IFD0, the
    sub-directories, then ``strips`` (image data; IFD0 must then hold entries for
    StripOffsets, 273, and StripByteCounts, 279, whose offsets are filled in here).

    Returns:
        The bytes (an EXIF block without the ``Exif\\0\\0`` prefix, or a TIFF file).
    """
    subs = {tag: entries for tag, entries in dirs.subs.items() if entries}
    interop = subs.pop(INTEROP_IFD, None)
    exif_entries = list(subs.get(EXIF_IFD, []))
    if interop:
        exif_entries.append(Entry.long(INTEROP_IFD, 0))
        subs[EXIF_IFD] = exif_entries
    elif EXIF_IFD in subs:
        subs[EXIF_IFD] = exif_entries
    ifd0 = [e for e in dirs.ifd0 if e.tag not in (*SUB_IFDS, INTEROP_IFD)]
    ifd0 += [Entry.long(tag, 0) for tag in subs]
    strip_entries = {e.tag: e for e in ifd0 if e.tag in (273, 279)}
    if strips:
        ifd0 = [e for e in ifd0 if e.tag not in (273, 279)]
        ifd0 += [Entry.long(273, *([0] * len(strips))),
                 Entry.long(279, *(len(s) for s in strips))]
    elif strip_entries:
        raise ValueError("strip entries without strips")
    # positions: header, IFD0, EXIF (+ interop), GPS, then the strips
    order = [("ifd0", ifd0)] + [(str(tag), subs[tag]) for tag in subs]
    if interop:
        order.append((str(INTEROP_IFD), interop))
    starts: dict[str, int] = {}
    at = 8
    for name, entries in order:
        at += at % 2
        starts[name] = at
        at += _length(entries)
    at += at % 2
    strip_at = at
    offsets = []
    for s in strips:
        offsets.append(strip_at)
        strip_at += len(s)
    out = bytearray(b"II*\0" + struct.pack("<I", starts["ifd0"]))
    for name, entries in order:
        out += b"\0" * (starts[name] - len(out))
        pointers = {int(key): value for key, value in starts.items() if key != "ifd0"}
        block = _ifd(entries, starts[name], pointers)
        if name == "ifd0" and strips:
            block = _with_strip_offsets(block, starts[name], entries, offsets)
        out += block
    if strips:
        out += b"\0" * (at - len(out))
        for s in strips:
            out += s
    return bytes(out)


def _with_strip_offsets(block: bytes, start: int, entries: Sequence[Entry],
                        offsets: Sequence[int]) -> bytes:
    """IFD0's bytes with StripOffsets' values set to ``offsets``."""
    data = bytearray(block)
    ordered = sorted(entries, key=lambda e: e.tag)
    i = next(i for i, e in enumerate(ordered) if e.tag == 273)
    field = 2 + 12 * i + 8
    values = struct.pack(f"<{len(offsets)}I", *offsets)
    if len(values) <= 4:
        data[field:field + 4] = values.ljust(4, b"\0")
    else:
        (where,) = struct.unpack_from("<I", data, field)
        data[where - start:where - start + len(values)] = values
    return bytes(data)
