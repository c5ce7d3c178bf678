"""Colour profiles: a photo's own RGB encoding and the working space, in floating point.

The network, the losses and the measures work in sRGB (the space the VGG19 weights were
trained in). A photo with an embedded ICC profile (Adobe RGB, Display P3, ProPhoto ...) is
converted to sRGB on reading and the result converted back to the photo's own profile on
writing, so colours neither shift nor get clipped on the way:

* profiles are opened and checked with littleCMS (Pillow's :mod:`PIL.ImageCms`); a profile
  it cannot read is reported and the photo treated as sRGB;
* RGB matrix/TRC profiles (every common working space is one) are converted here, in
  float64: tone curves (``para`` or ``curv``) to linear light, the colorant matrix to the
  profile connection space (XYZ, D50, already chromatically adapted) and on to linear sRGB
  through littleCMS's own built-in sRGB profile: the relative colorimetric conversion that
  littleCMS itself makes between such profiles, but in floating point and without clipping,
  so 16-bit photos keep their precision and colours outside sRGB come back unchanged
  (*extended* sRGB: values below 0 and above 1 are kept, with the curves extended oddly);
* any other profile (a LUT-based RGB profile, CMYK, greyscale) is converted by littleCMS to
  8-bit sRGB, and the output is sRGB: Pillow's littleCMS binding converts 8-bit images only.

Arrays are ``(..., 3)`` with values nominally in [0, 1].
"""

from __future__ import annotations

import io
import logging
import struct
from dataclasses import dataclass, field
from functools import cache, lru_cache

import numpy as np

log = logging.getLogger(__name__)


class ProfileError(ValueError):
    """A profile that cannot be used as an RGB matrix/TRC profile (with the reason)."""


@dataclass(frozen=True)
class Curve:
    """A profile's tone curve: encoded value -> linear light, on [0, 1], extended beyond.

    Either parametric (ICC ``para`` types 0-4, all written as type 4:
    ``y = (a x + b)^g + e`` for ``x >= d``, else ``c x + f``) or a table of samples at
    equal steps (``curv``), linear between samples.
    """

    params: tuple[float, ...] | None = None  # (g, a, b, c, d, e, f)
    table: np.ndarray | None = field(default=None, compare=False)

    def to_linear(self, x: np.ndarray) -> np.ndarray:
        """Encoded values ``x`` (float64, any shape) to linear light."""
        return self._odd(x, self._forward)

    def to_encoded(self, y: np.ndarray) -> np.ndarray:
        """Linear light ``y`` to encoded values: the inverse of :meth:`to_linear`."""
        return self._odd(y, self._inverse)

    def _odd(self, x: np.ndarray, f: object) -> np.ndarray:
        """``f`` on ``x >= 0``; for negative values ``-f(-x)`` (curves through 0 only)."""
        assert callable(f)
        x = np.asarray(x, dtype=np.float64)
        return np.sign(x) * f(np.abs(x))

    def _forward(self, x: np.ndarray) -> np.ndarray:
        if self.table is not None:
            return _interp_extended(x, np.linspace(0.0, 1.0, len(self.table)), self.table)
        g, a, b, c, d, e, f = self.params or (1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            high = np.power(np.maximum(a * x + b, 0.0), g) + e
        return np.where(x >= d, high, c * x + f)

    def _inverse(self, y: np.ndarray) -> np.ndarray:
        if self.table is not None:
            return _interp_extended(y, self.table, np.linspace(0.0, 1.0, len(self.table)))
        g, a, b, c, d, e, f = self.params or (1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        y_d = max(a * d + b, 0.0) ** g + e
        with np.errstate(invalid="ignore", divide="ignore"):
            high = (np.power(np.maximum(y - e, 0.0), 1.0 / g) - b) / a
            low = (y - f) / c if c > 0 else np.full_like(y, d)
        return np.where(y >= y_d, high, low)


def _interp_extended(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """``np.interp`` with the end segments extended linearly beyond ``xp``'s range."""
    out = np.interp(x, xp, fp)
    above = x > xp[-1]
    if above.any():
        slope = (fp[-1] - fp[-2]) / (xp[-1] - xp[-2])
        out = np.where(above, fp[-1] + (x - xp[-1]) * slope, out)
    return out


@dataclass(frozen=True)
class RGBProfile:
    """An RGB matrix/TRC colour profile.

    Attributes:
        name: the profile's description (``"Adobe RGB (1998)"``).
        data: the ICC bytes, embedded in outputs encoded in this profile.
        matrix: ``(3, 3)`` linear RGB -> XYZ (D50, the profile connection space); columns
            are the red, green and blue colorants.
        curves: the red, green and blue tone curves.
    """

    name: str
    data: bytes = field(repr=False)
    matrix: np.ndarray = field(repr=False, compare=False)
    curves: tuple[Curve, Curve, Curve] = field(repr=False, compare=False)

    def to_xyz(self, encoded: np.ndarray) -> np.ndarray:
        """``(..., 3)`` encoded values -> ``(..., 3)`` XYZ (D50), float64."""
        lin = np.stack([c.to_linear(encoded[..., i]) for i, c in enumerate(self.curves)], -1)
        return lin @ self.matrix.T

    def from_xyz(self, xyz: np.ndarray) -> np.ndarray:
        """``(..., 3)`` XYZ (D50) -> ``(..., 3)`` encoded values (unclipped), float64."""
        lin = xyz @ np.linalg.inv(self.matrix).T
        return np.stack([c.to_encoded(lin[..., i]) for i, c in enumerate(self.curves)], -1)

    def same_as(self, other: RGBProfile, tolerance: float = 2e-4) -> bool:
        """Whether both encode colours alike: colorants within 1e-3 (a tenth of a just
        noticeable difference; sRGB profiles of different makers differ by 2e-4) and tone
        curves within ``tolerance``."""
        if self.data == other.data:
            return True
        if not np.allclose(self.matrix, other.matrix, atol=1e-3):
            return False
        x = np.linspace(0.0, 1.0, 257)
        return all(np.abs(a.to_linear(x) - b.to_linear(x)).max() < tolerance
                   for a, b in zip(self.curves, other.curves, strict=True))


def convert(pixels: np.ndarray, source: RGBProfile, target: RGBProfile) -> np.ndarray:
    """``(..., 3)`` values encoded in ``source`` -> encoded in ``target``, float64, unclipped
    (relative colorimetric, as littleCMS converts between matrix/TRC profiles)."""
    if source is target:
        return np.asarray(pixels, dtype=np.float64)
    return target.from_xyz(source.to_xyz(np.asarray(pixels, dtype=np.float64)))


def _s15f16(data: bytes, offset: int, count: int) -> list[float]:
    return [v / 65536.0 for v in struct.unpack_from(f">{count}i", data, offset)]


def _tags(data: bytes) -> dict[bytes, bytes]:
    """The tag table of an ICC profile: signature -> the tag's bytes."""
    if len(data) < 132:
        raise ProfileError(f"too short for an ICC profile ({len(data)} bytes)")
    if data[36:40] != b"acsp":
        raise ProfileError("no 'acsp' signature: not an ICC profile")
    (count,) = struct.unpack_from(">I", data, 128)
    if 132 + 12 * count > len(data):
        raise ProfileError(f"tag table of {count} entries runs past the end")
    tags = {}
    for i in range(count):
        sig, offset, size = struct.unpack_from(">4sII", data, 132 + 12 * i)
        if offset + size > len(data) or size < 8:
            raise ProfileError(f"tag {sig.decode('latin-1')!r} lies outside the profile")
        tags[sig] = data[offset : offset + size]
    return tags


#: Parameter counts of ICC parametric curve types 0-4.
_PARA_COUNTS = {0: 1, 1: 3, 2: 4, 3: 5, 4: 7}


def _curve(tag: bytes, sig: str) -> Curve:
    kind = tag[:4]
    if kind == b"curv":
        (n,) = struct.unpack_from(">I", tag, 8)
        if len(tag) < 12 + 2 * n:
            raise ProfileError(f"{sig}: curve of {n} points is truncated")
        if n == 0:
            return Curve(params=(1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0))
        if n == 1:
            (gamma,) = struct.unpack_from(">H", tag, 12)
            return Curve(params=(gamma / 256.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0))
        table = np.array(struct.unpack_from(f">{n}H", tag, 12), dtype=np.float64) / 65535.0
        if np.any(np.diff(table) < 0):
            raise ProfileError(f"{sig}: tone curve is not increasing")
        # flat runs have no inverse: lift them by a hair so that the curve is invertible
        table = table + np.arange(n) * 1e-12
        return Curve(table=table)
    if kind == b"para":
        (ftype,) = struct.unpack_from(">H", tag, 8)
        if ftype not in _PARA_COUNTS:
            raise ProfileError(f"{sig}: unknown parametric curve type {ftype}")
        count = _PARA_COUNTS[ftype]
        if len(tag) < 12 + 4 * count:
            raise ProfileError(f"{sig}: parametric curve is truncated")
        p = _s15f16(tag, 12, count)
        g = p[0]
        if g <= 0:
            raise ProfileError(f"{sig}: gamma {g} is not positive")
        if ftype > 0 and p[1] <= 0:
            raise ProfileError(f"{sig}: parametric curve with a = {p[1]} is not increasing")
        params: tuple[float, ...]
        if ftype == 0:
            params = (g, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        elif ftype == 1:
            params = (g, p[1], p[2], 0.0, -p[2] / p[1], 0.0, 0.0)
        elif ftype == 2:
            params = (g, p[1], p[2], 0.0, -p[2] / p[1], p[3], p[3])
        elif ftype == 3:
            params = (g, p[1], p[2], p[3], p[4], 0.0, 0.0)
        else:
            params = (g, *p[1:7])
        return Curve(params=_continuous(params))
    raise ProfileError(f"{sig}: tone curve of type {kind!r} (only 'curv' and 'para' are "
                       "matrix/TRC curves)")


def _continuous(params: tuple[float, ...]) -> tuple[float, ...]:
    """Parameters ``(g, a, b, c, d, e, f)`` whose linear segment meets the power segment
    at the break ``d``.

    The ICC's 16.16 fixed-point numbers leave the two pieces a hair apart (sRGB's: 8.5e-7
    in linear light); values in that gap have no inverse, so a colour converted into
    such a profile and back could move by a level or two at 16 bits. The slope ``c`` is
    set so that ``c d + f`` equals the power segment at ``d`` (for sRGB a change of
    3e-4 of the slope), which makes the curve and its inverse agree everywhere.
    """
    g, a, b, c, d, e, f = params
    if c <= 0 or d <= 0:
        return params
    meet = max(a * d + b, 0.0) ** g + e
    slope = (meet - f) / d
    return (g, a, b, slope, d, e, f) if slope > 0 else params


def parse_rgb_profile(data: bytes, name: str = "") -> RGBProfile:
    """An :class:`RGBProfile` from ICC bytes.

    Raises:
        ProfileError: not an ICC profile, not RGB, or not a matrix/TRC profile.
    """
    tags = _tags(data)
    space, pcs = data[16:20], data[20:24]
    if space != b"RGB ":
        raise ProfileError(f"colour space {space.decode('latin-1').strip()!r}, not RGB")
    if pcs != b"XYZ ":
        raise ProfileError("connection space is Lab: not a matrix/TRC profile")
    missing = [s.decode() for s in (b"rXYZ", b"gXYZ", b"bXYZ", b"rTRC", b"gTRC", b"bTRC")
               if s not in tags]
    if missing:
        raise ProfileError(f"no {', '.join(missing)} tag(s): not a matrix/TRC profile")
    columns = []
    for sig in (b"rXYZ", b"gXYZ", b"bXYZ"):
        tag = tags[sig]
        if tag[:4] != b"XYZ " or len(tag) < 20:
            raise ProfileError(f"{sig.decode()}: not an XYZ tag")
        columns.append(_s15f16(tag, 8, 3))
    matrix = np.array(columns, dtype=np.float64).T
    if not np.all(np.isfinite(matrix)) or abs(np.linalg.det(matrix)) < 1e-6:
        raise ProfileError("colorant matrix is singular")
    curves = tuple(_curve(tags[s], s.decode()) for s in (b"rTRC", b"gTRC", b"bTRC"))
    return RGBProfile(name or "RGB profile", bytes(data), matrix, curves)  # type: ignore[arg-type]


def describe(data: bytes) -> str:
    """littleCMS's description of a profile; raises ``ProfileError`` when it cannot be read."""
    from PIL import ImageCms

    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(data))
    except (OSError, ValueError, TypeError, ImageCms.PyCMSError) as exc:
        raise ProfileError(f"littleCMS cannot read it ({exc})") from None
    text = (profile.profile.profile_description or "").strip()
    return text or "unnamed profile"


@lru_cache(maxsize=1)
def srgb() -> RGBProfile:
    """littleCMS's built-in sRGB profile (what untagged photos are taken to be)."""
    from PIL import ImageCms

    data = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return parse_rgb_profile(data, "sRGB")


def read_profile(data: bytes, source: str) -> RGBProfile | None:
    """The profile to convert a photo from, given its embedded ICC bytes.

    Returns ``None`` when the photo is to be read as sRGB with no conversion: an sRGB
    profile, or a profile that cannot be used (reported with a warning naming ``source``).

    Raises:
        ProfileError: a profile littleCMS reads but that is not an RGB matrix/TRC profile
            (the caller lets littleCMS convert those, see :func:`littlecms_to_srgb`).
    """
    try:
        name = describe(data)
    except ProfileError as exc:
        log.warning("%s: embedded colour profile ignored, read as sRGB: %s", source, exc)
        return None
    try:
        profile = parse_rgb_profile(data, name)
    except ProfileError as exc:
        raise ProfileError(f"{name}: {exc}") from None
    return profile


def littlecms_to_srgb(image: object, data: bytes) -> object:
    """A Pillow image in any mode littleCMS handles, converted from the profile ``data`` to
    8-bit sRGB by littleCMS (relative colorimetric)."""
    from PIL import Image, ImageCms

    assert isinstance(image, Image.Image)
    source = ImageCms.ImageCmsProfile(io.BytesIO(data))
    target = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    mode = "RGB"
    converted = ImageCms.profileToProfile(
        image, source, target, renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
        outputMode=mode)
    assert converted is not None
    return converted


@dataclass(frozen=True)
class Encoding:
    """How a photo's pixels reach the working space and how the result is encoded.

    Attributes:
        source: the content's profile (``None``: sRGB).
        target: the output's profile (``None``: sRGB).
    """

    source: RGBProfile | None = None
    target: RGBProfile | None = None

    def decode(self, pixels: np.ndarray) -> np.ndarray:
        """``(..., 3)`` content pixels -> extended sRGB, float64 (unclipped)."""
        if self.source is None:
            return np.asarray(pixels, dtype=np.float64)
        return convert(pixels, self.source, srgb())

    def encode(self, pixels: np.ndarray) -> np.ndarray:
        """``(..., 3)`` extended sRGB -> the output's encoding, float64 (unclipped)."""
        if self.target is None:
            return np.asarray(pixels, dtype=np.float64)
        return convert(pixels, srgb(), self.target)


#: The ICC profile connection space's white (D50), XYZ.
D50 = (0.9642, 1.0, 0.8249)

#: Bradford cone response matrix (chromatic adaptation, as ICC v4's ``chad`` tags use).
_BRADFORD = np.array([[0.8951, 0.2664, -0.1614],
                      [-0.7502, 1.7135, 0.0367],
                      [0.0389, -0.0685, 1.0296]])

#: Working spaces photostyle writes profiles for: primaries (red, green, blue) and white as
#: CIE xy, and the tone curve as ICC parametric curve parameters ``(g, a, b, c, d)``
#: (type 3: ``(a x + b)^g`` above ``d``, ``c x`` below) or ``(g,)`` (a pure power).
Space = tuple[tuple[tuple[float, float], ...], tuple[float, float], tuple[float, ...]]
SPACES: dict[str, Space] = {
    # Display P3: DCI-P3 primaries, D65, the sRGB curve (Apple's phones and screens)
    "Display P3": (((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)), (0.3127, 0.3290),
                   (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)),
    # ProPhoto RGB (ROMM RGB): D50, gamma 1.8 with a linear toe below 1/512
    "ProPhoto RGB": (((0.7347, 0.2653), (0.1596, 0.8404), (0.0366, 0.0001)),
                     (0.3457, 0.3585), (1.8, 1.0, 0.0, 1 / 16, 1 / 32)),
}


def _xyz(xy: tuple[float, float]) -> np.ndarray:
    x, y = xy
    return np.array([x / y, 1.0, (1.0 - x - y) / y])


def colorants(primaries: tuple[tuple[float, float], ...],
              white: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """The ``(3, 3)`` linear RGB -> XYZ (D50) matrix of an RGB space given its primaries and
    white as CIE xy (adapted to D50 by Bradford, as ICC profiles store it), and the
    ``(3, 3)`` adaptation matrix from its white to D50."""
    xyz = np.stack([_xyz(p) for p in primaries], axis=1)
    scale = np.linalg.solve(xyz, _xyz(white))
    to_xyz = xyz * scale  # columns: the colorants; RGB (1, 1, 1) -> the white, Y = 1
    source = _BRADFORD @ _xyz(white)
    target = _BRADFORD @ np.array(D50)
    adapt = np.linalg.inv(_BRADFORD) @ np.diag(target / source) @ _BRADFORD
    return adapt @ to_xyz, adapt


def _s15(values: np.ndarray | tuple[float, ...] | list[float]) -> bytes:
    return b"".join(struct.pack(">i", round(float(v) * 65536.0)) for v in values)


def _mluc(text: str) -> bytes:
    encoded = text.encode("utf-16-be")
    return b"mluc\0\0\0\0" + struct.pack(">II2s2sII", 1, 12, b"en", b"US", len(encoded), 28) \
        + encoded


def make_profile(name: str) -> bytes:
    """ICC v4 display profile bytes for one of :data:`SPACES` (a matrix/TRC profile that
    littleCMS, browsers and photo editors read; its colorants computed from the space's
    published primaries).

    Raises:
        KeyError: an unknown space.
    """
    primaries, white, curve = SPACES[name]
    matrix, adapt = colorants(primaries, white)
    kind = 0 if len(curve) == 1 else 3
    trc = b"para\0\0\0\0" + struct.pack(">HH", kind, 0) + _s15(curve)
    tags = [
        (b"desc", _mluc(name)),
        (b"cprt", _mluc("No copyright, use freely")),
        (b"wtpt", b"XYZ \0\0\0\0" + _s15(D50)),
        (b"chad", b"sf32\0\0\0\0" + _s15(adapt.ravel())),
        (b"rXYZ", b"XYZ \0\0\0\0" + _s15(matrix[:, 0])),
        (b"gXYZ", b"XYZ \0\0\0\0" + _s15(matrix[:, 1])),
        (b"bXYZ", b"XYZ \0\0\0\0" + _s15(matrix[:, 2])),
        (b"rTRC", trc), (b"gTRC", trc), (b"bTRC", trc),
    ]
    table_end = 128 + 4 + 12 * len(tags)
    body, entries, offset = b"", b"", table_end
    placed: dict[bytes, int] = {}
    for sig, data in tags:
        if data in placed:  # the three tone curves share one copy, as usual
            entries += struct.pack(">4sII", sig, placed[data], len(data))
            continue
        padded = data + b"\0" * (-len(data) % 4)
        placed[data] = offset
        entries += struct.pack(">4sII", sig, offset, len(data))
        body += padded
        offset += len(padded)
    size = table_end + len(body)
    header = struct.pack(
        ">I4sI4s4s4s6H4s4sI4sI8sI", size, b"\0\0\0\0", 0x04300000, b"mntr", b"RGB ", b"XYZ ",
        2026, 1, 1, 0, 0, 0, b"acsp", b"\0\0\0\0", 0, b"\0\0\0\0", 0, b"\0" * 8, 0,
    ) + _s15(D50) + b"phst" + b"\0" * 16 + b"\0" * 28
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + entries + body


@cache
def space(name: str) -> RGBProfile:
    """The :class:`RGBProfile` of one of :data:`SPACES`, with ICC bytes to embed."""
    return parse_rgb_profile(make_profile(name), name)
