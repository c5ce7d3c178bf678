"""Cameras' raw files through LibRaw (rawpy): a DNG written here, developed with the camera's
white balance into 16-bit ProPhoto RGB, upright, its EXIF carried; broken raws refused."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from photostyle.cli import main
from photostyle.errors import InputError
from photostyle.files import exif as tiff
from photostyle.files import icc, raw
from photostyle.files.images import IMAGE_EXTENSIONS, read_photo
from photostyle.files.metadata import read_metadata

from ..conftest import gradient_image, save_png

rawpy = pytest.importorskip("rawpy")
E = tiff.Entry


def _ascii(tag: int, text: str) -> tiff.Entry:
    data = text.encode() + b"\0"
    return E(tag, 2, len(data), data)


def _rationals(tag: int, values: list[float], signed: bool = False) -> tiff.Entry:
    code = "<ii" if signed else "<II"
    data = b"".join(struct.pack(code, round(v * 10000), 10000) for v in values)
    return E(tag, 10 if signed else 5, len(values), data)


def make_dng(path: Path, camera_rgb: np.ndarray, *, orientation: int = 1,
             neutral: tuple[float, float, float] = (0.5, 1.0, 0.8)) -> Path:
    """A minimal DNG 1.4 (RGGB mosaic, 12-bit values in 16, uncompressed) of ``camera_rgb``
    ``(H, W, 3)`` in [0, 1]: the camera's raw values of each colour, mosaiced here; an
    identity colour matrix (camera RGB = XYZ) and ``neutral``, the as-shot white."""
    h, w, _ = camera_rgb.shape
    mosaic = np.empty((h, w))
    mosaic[0::2, 0::2] = camera_rgb[0::2, 0::2, 0]
    mosaic[0::2, 1::2] = camera_rgb[0::2, 1::2, 1]
    mosaic[1::2, 0::2] = camera_rgb[1::2, 0::2, 1]
    mosaic[1::2, 1::2] = camera_rgb[1::2, 1::2, 2]
    strip = (mosaic * 4095).round().astype("<u2").tobytes()
    ifd0 = [E.long(254, 0), E.long(256, w), E.long(257, h), E.short(258, 16), E.short(259, 1),
            E.short(262, 32803), _ascii(271, "Nikon"), _ascii(272, "Z 6"),
            E.short(274, orientation), E.short(277, 1), E.long(278, h), E.short(284, 1),
            E.short(33421, 2, 2), E.raw(33422, bytes([0, 1, 1, 2]), 1),
            E.raw(50706, bytes([1, 4, 0, 0]), 1), _ascii(50708, "Nikon Z 6"),
            E.short(50717, 4095), E.short(50714, 0),
            _rationals(50721, [1, 0, 0, 0, 1, 0, 0, 0, 1], signed=True), E.short(50778, 21),
            _rationals(50728, list(neutral)), E.long(273, 0), E.long(279, len(strip))]
    exif = [_rationals(0x829A, [1 / 250]), _ascii(0x9003, "2026:12:04 10:00:00")]
    path.write_bytes(tiff.build(tiff.Directories(ifd0, {tiff.EXIF_IFD: exif}), [strip]))
    return path


def scene(h: int = 64, w: int = 96) -> np.ndarray:
    """Raw values of a grey card lit by a warm light: red at 2x, blue at 1.25x of grey's
    response less (the as-shot white of :func:`make_dng` is (0.5, 1, 0.8)); a bright left
    half and a dark right half."""
    grey = np.where(np.arange(w)[None, :] < w // 2, 0.4, 0.1) * np.ones((h, 1))
    return np.stack([grey * 0.5, grey, grey * 0.8], -1)


def test_a_dng_is_developed_white_balanced_upright_in_16_bit_prophoto(tmp_path: Path) -> None:
    path = make_dng(tmp_path / "DSC_0001.DNG", scene(), orientation=6)
    photo = read_photo(path, what="content image")
    assert photo.bit_depth == 16 and photo.icc == icc.space("ProPhoto RGB").data
    assert photo.pixels.shape == (96, 64, 3)  # turned upright: the raw was 64 x 96
    # the camera's white balance makes the grey card neutral, in ProPhoto as in sRGB
    linear = np.stack([c.to_linear(photo.pixels[..., i]) for i, c in
                       enumerate(photo.profile.curves)], -1)
    inner = linear[8:-8, 8:-8]
    bright, dark = inner[:20].mean((0, 1)), inner[-20:].mean((0, 1))
    assert np.ptp(bright) / bright.mean() < 0.05, bright
    assert np.ptp(dark) / dark.mean() < 0.05, dark
    assert 2.5 < bright.mean() / dark.mean() < 5.5  # linear: no tone curve, no auto exposure
    metadata = read_metadata(path)
    dirs = tiff.read_directories(metadata.exif[6:])
    assert dirs.get(0x010F).value == b"Nikon\0" and dirs.get(0x0112).ints() == (1,)
    assert dirs.get(50706) is None and dirs.get(50721) is None  # no DNG tags travel
    assert any(e.tag == 0x829A for e in dirs.subs[tiff.EXIF_IFD])


def test_a_raw_content_gives_a_16_bit_tiff(tmp_path: Path, shallow_vgg_file: Path,
                                           monkeypatch) -> None:
    content = make_dng(tmp_path / "DSC_0002.dng", scene(48, 64))
    style = save_png(gradient_image(40, 48, 1), tmp_path / "style.png")
    monkeypatch.chdir(tmp_path)
    assert main(["transfer", "-c", str(content), "-s", str(style), "--vgg-weights",
                 str(shallow_vgg_file), "--content-layer", "relu2_1", "--style-layers",
                 "relu1_1,relu2_1", "--segment", "none", "--size", "32", "--iterations", "2",
                 "-q"]) == 0
    out = read_photo(tmp_path / "DSC_0002-styled.tif")
    assert out.bit_depth == 16 and out.icc == icc.space("ProPhoto RGB").data
    assert ".dng" in IMAGE_EXTENSIONS and ".cr3" in IMAGE_EXTENSIONS


def test_raws_libraw_refuses_are_one_line_and_nothing_is_written(
        tmp_path: Path, monkeypatch, capsys) -> None:
    good = make_dng(tmp_path / "good.dng", scene())
    broken = tmp_path / "broken.nef"
    broken.write_bytes(good.read_bytes()[:200])
    notraw = tmp_path / "text.cr2"
    notraw.write_bytes(b"not a raw file at all" * 10)
    for path in (broken, notraw):
        with pytest.raises(InputError, match=rf"{path.name}: LibRaw cannot read it"):
            read_photo(path, what="content image")
    with pytest.raises(InputError, match="exceeds the limit"):
        read_photo(good, max_pixels=1000, what="content image")
    style = save_png(gradient_image(40, 48, 1), tmp_path / "style.png")
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["transfer", "-c", str(broken), "-s", str(style), "-o",
                 str(tmp_path / "out.tif"), "-q"]) == 2
    assert "broken.nef" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    monkeypatch.setitem(__import__("sys").modules, "rawpy", None)  # rawpy not installed
    with pytest.raises(InputError, match=r"photostyle\[raw\]"):
        raw.read_raw(good, max_pixels=10**8, what="content image")
