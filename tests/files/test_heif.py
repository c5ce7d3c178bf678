"""Phones' HEIC/HEIF photos and AVIF: read with their orientation, profile, depth and
metadata; written with them; broken and unusual files refused in one line."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from photostyle.errors import InputError, OutputError
from photostyle.files import heif, icc
from photostyle.files.images import IMAGE_EXTENSIONS, read_photo
from photostyle.files.metadata import Metadata, read_metadata
from photostyle.files.writers import save_image

pillow_heif = pytest.importorskip("pillow_heif")
heif.available()  # registers the opener

XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/'
       b'02/22-rdf-syntax-ns#"><rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" '
       b'dc:format="image/heic"/></rdf:RDF></x:xmpmeta>')


def gradient(h: int = 48, w: int = 64) -> np.ndarray:
    """(h, w, 3) uint8: red rises left to right, green top to bottom, blue constant."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // (w - 1), y * 255 // (h - 1), np.full_like(x, 90)],
                    -1).astype(np.uint8)


def exif_bytes(orientation: int = 1) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "Apple"
    exif[0x0110] = "iPhone 15"
    exif[0x0112] = orientation
    return exif.tobytes()


def test_heic_reads_upright_with_its_exif_and_xmp(tmp_path: Path) -> None:
    path = tmp_path / "IMG_0001.HEIC"
    pixels = gradient()
    # a phone held upright: stored sideways, orientation 6 (turn 90 degrees clockwise)
    stored = np.ascontiguousarray(np.rot90(pixels, 1))
    Image.fromarray(stored).save(path, quality=-1, exif=exif_bytes(6), xmp=XMP)
    photo = read_photo(path)
    # upright once, not twice: the stored image turned clockwise
    expected = np.rot90(stored, -1).astype(np.float32) / 255
    assert photo.pixels.shape == expected.shape
    assert np.abs(photo.pixels - expected).mean() < 4 / 255  # lossless-ish HEVC at q=-1
    meta = read_metadata(path)
    from photostyle.files import exif as tiff

    dirs = tiff.read_directories(meta.exif[6:])
    assert dirs.get(0x010F) is not None and dirs.get(0x0112).value in (b"\x01\x00", b"\x00\x01")
    assert meta.xmp is not None and b"image/heic" in meta.xmp


def test_display_p3_by_icc_profile_and_by_nclx(tmp_path: Path) -> None:
    p3 = icc.space("Display P3")
    # Apple's Display P3 colorants (D50), as its own profiles state them
    assert np.allclose(p3.matrix, [[0.5151, 0.2920, 0.1571], [0.2412, 0.6922, 0.0666],
                                   [-0.0011, 0.0419, 0.7841]], atol=2e-4)
    red = np.zeros((16, 16, 3), np.uint8)
    red[..., 0] = 255  # P3's pure red lies outside sRGB
    with_icc = tmp_path / "icc.heic"
    Image.fromarray(red).save(with_icc, quality=-1, icc_profile=p3.data)
    photo = read_photo(with_icc)
    assert photo.profile is not None and photo.profile.same_as(p3)
    assert photo.icc == p3.data
    extended = photo.srgb(clip=False)
    assert extended[..., 0].mean() > 1.05 and extended[..., 1].mean() < -0.05
    # littleCMS agrees on an in-gamut colour
    grey = np.full((1, 1, 3), 0.5)
    ours = icc.convert(grey, p3, icc.srgb())
    lcms = ImageCms.profileToProfile(
        Image.fromarray((grey * 255).astype(np.uint8)), ImageCms.ImageCmsProfile(
            io.BytesIO(p3.data)), ImageCms.createProfile("sRGB"), renderingIntent=1)
    assert np.abs(ours * 255 - np.asarray(lcms, float)).max() <= 1.0

    info = {"nclx_profile": {"color_primaries": 12, "transfer_characteristics": 13}}
    assert heif.nclx_space(info, "x") == "Display P3"
    assert heif.nclx_space({"nclx_profile": {"color_primaries": 1,
                                             "transfer_characteristics": 13}}, "x") is None
    # HDR (PQ) is not converted: read as sRGB, with a warning
    assert heif.nclx_space({"nclx_profile": {"color_primaries": 9,
                                             "transfer_characteristics": 16}}, "x") is None


def test_ten_bit_heic_keeps_its_precision(tmp_path: Path) -> None:
    h, w = 32, 40
    ramp = np.linspace(0, 65535, w * h * 3).reshape(h, w, 3).astype("<u2")
    ramp = (ramp >> 6 << 6)  # 10 significant bits
    path = tmp_path / "ten.heic"
    pillow_heif.from_bytes(mode="RGB;16", size=(w, h), data=ramp.tobytes()).save(
        path, quality=-1)
    photo = read_photo(path)
    assert photo.bit_depth == 16
    levels = np.unique(np.round(photo.pixels[..., 1] * 1023))
    assert len(levels) > 256  # more levels than 8 bits could hold
    assert np.abs(photo.pixels - ramp / 65535).mean() < 2 / 1023


def test_broken_and_unusual_heif_files_are_refused_in_one_line(tmp_path: Path) -> None:
    good = tmp_path / "good.heic"
    Image.fromarray(gradient()).save(good)
    truncated = tmp_path / "truncated.heic"
    truncated.write_bytes(good.read_bytes()[:300])
    with pytest.raises(InputError, match=r"truncated\.heic"):
        read_photo(truncated, what="content image")
    burst = tmp_path / "burst.heic"
    frames = [Image.fromarray(gradient()), Image.fromarray(255 - gradient())]
    frames[0].save(burst, save_all=True, append_images=frames[1:])
    with pytest.raises(InputError, match=r"burst\.heic.*holds 2 images"):
        read_photo(burst, what="content image")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_without_pillow_heif_a_clear_line(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "IMG_0002.heic"
    Image.fromarray(gradient()).save(path)
    renamed = tmp_path / "IMG_0002.jpg"  # a HEIC with the wrong extension, found by ftyp
    renamed.write_bytes(path.read_bytes())
    monkeypatch.setattr(heif, "available", lambda: False)
    for p in (path, renamed):
        with pytest.raises(InputError, match=r"HEIF/HEIC photo.*photostyle\[heif\]"):
            read_photo(p, what="content image")
    with pytest.raises(OutputError, match=r"photostyle\[heif\]"):
        save_image(np.zeros((4, 4, 3), np.float32), tmp_path / "out.heic")
    assert not (tmp_path / "out.heic").exists()


@pytest.mark.parametrize("ext", [".heic", ".avif"])
def test_writes_heic_and_avif_with_profile_and_metadata(tmp_path: Path, ext: str) -> None:
    image = gradient().astype(np.float32) / 255
    out = tmp_path / f"out{ext}"
    p3 = icc.space("Display P3").data
    save_image(image, out, quality=95, metadata=Metadata(exif_bytes(1), XMP), icc_profile=p3)
    with Image.open(out) as im:
        assert im.format == ("HEIF" if ext == ".heic" else "AVIF")
        assert im.info.get("icc_profile") == p3
        assert im.getexif().get(0x010F) == "Apple"
        assert b"image/heic" in (im.info.get("xmp") or b"")
        back = np.asarray(im.convert("RGB"), np.float32) / 255
    assert np.abs(back - image).mean() < 3 / 255
    assert ext in IMAGE_EXTENSIONS
