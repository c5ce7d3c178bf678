"""Photographers' files: colour profiles, 16-bit, saved looks and ``photostyle apply``.

Profiles are real ones from Debian's colord-data package (``.ci/run`` installs it); the
conversions are checked against littleCMS, the files against outside readers (OpenCV's
libpng and libtiff, littleCMS for embedded profiles).
"""

from __future__ import annotations

import io
import json
import logging
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms

from photostyle.cli import main
from photostyle.engine.transforms import Look
from photostyle.errors import InputError
from photostyle.files import icc
from photostyle.files.images import read_photo
from photostyle.files.metadata import Metadata
from photostyle.files.writers import save_image
from photostyle.runs.outputs import report_path, transforms_path

from ..conftest import gradient_image, save_png

COLORD = Path("/usr/share/color/icc/colord")
WIDE = {"Adobe RGB": COLORD / "AdobeRGB1998.icc", "ProPhoto": COLORD / "ProPhotoRGB.icc",
        "Wide Gamut": COLORD / "WideGamutRGB.icc", "eciRGB v2": COLORD / "ECI-RGBv2.icc",
        "Rec. 709 (sampled curve)": COLORD / "Rec709.icc"}
needs_profiles = pytest.mark.skipif(not (COLORD / "AdobeRGB1998.icc").exists(),
                                    reason="Debian's colord-data is not installed")
FAST = ["--content-layer", "relu2_1", "--style-layers", "relu1_1,relu2_1", "--size", "32",
        "--iterations", "3", "--segment", "none", "-q"]


def adobe() -> icc.RGBProfile:
    return icc.parse_rgb_profile(WIDE["Adobe RGB"].read_bytes(), "Adobe RGB")


def read16(path: Path) -> np.ndarray:
    """Pixels as an outside reader (OpenCV: libpng, libtiff) sees them, RGB."""
    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    assert pixels is not None, f"OpenCV cannot read {path}"
    return pixels[..., ::-1]


def wide_content(tmp_path: Path, name: str = "adobe16.png") -> tuple[Path, np.ndarray]:
    """A 16-bit Adobe RGB content whose top-left patch is a green outside sRGB."""
    pixels = np.clip(icc.convert(gradient_image(40, 56, 0), icc.srgb(), adobe()), 0, 1)
    pixels[2:12, 2:12] = [0.05, 0.95, 0.1]
    pixels[20, 30] = [1 / 65535, 12345 / 65535, 65535 / 65535]  # low bits that 8 bits lose
    path = save_image(pixels.astype(np.float32), tmp_path / name, bit_depth=16,
                      icc_profile=adobe().data)
    return path, read16(path)


@needs_profiles
@pytest.mark.parametrize("name", sorted(WIDE))
def test_conversion_matches_littlecms_and_inverts_exactly(name: str) -> None:
    data = WIDE[name].read_bytes()
    profile = icc.read_profile(data, name)
    assert profile is not None and not profile.same_as(icc.srgb())
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    pixels[0, :3] = [[255, 0, 0], [0, 255, 0], [0, 0, 255]]
    ours = icc.convert(pixels / 255.0, profile, icc.srgb())
    theirs = np.asarray(icc.littlecms_to_srgb(Image.fromarray(pixels), data), np.float64)
    # littleCMS rounds to 8 bits (and clips): within one level of our float result
    assert np.abs(np.clip(ours, 0, 1) * 255 - theirs).max() <= 1.0
    back = icc.convert(ours, icc.srgb(), profile)
    assert np.abs(back - pixels / 255.0).max() < 1e-6  # exact to far below a 16-bit level
    if name != "Rec. 709 (sampled curve)":  # a wide gamut: some colours leave [0, 1] in sRGB
        assert ours.min() < -0.05 or ours.max() > 1.05


def test_srgb_curve_and_matrix_by_hand() -> None:
    srgb = icc.srgb()
    curve = srgb.curves[0]
    x = np.array([0.0, 0.02, 0.04045, 0.5, 1.0, -0.5, 1.5])
    expect = np.where(np.abs(x) <= 0.04045, x / 12.92,
                      np.sign(x) * ((np.abs(x) + 0.055) / 1.055) ** 2.4)
    np.testing.assert_allclose(curve.to_linear(x), expect, atol=2e-5)
    np.testing.assert_allclose(curve.to_encoded(curve.to_linear(x)), x, atol=1e-12)
    # white maps to the D50 white of the connection space; sRGB green's Y is 0.7152 (D50: .7169)
    np.testing.assert_allclose(srgb.matrix.sum(axis=1), [0.9642, 1.0, 0.8249], atol=2e-3)
    assert abs(srgb.matrix[1, 1] - 0.7169) < 2e-3


@needs_profiles
def test_16_bit_wide_gamut_strength_zero_comes_back_exactly(image_pair, shallow_vgg_file: Path,
                                                             tmp_path: Path) -> None:
    """The whole file path: a 16-bit Adobe RGB PNG at strength 0 is written back bit for bit,
    its out-of-sRGB green included, with its profile embedded, as PNG and as TIFF."""
    content, original = wide_content(tmp_path)
    _, style = image_pair
    for ext in ("png", "tif"):
        out = tmp_path / f"same.{ext}"
        assert main(["transfer", "-c", str(content), "-s", str(style), "-o", str(out),
                     "--vgg-weights", str(shallow_vgg_file), "--strength", "0", *FAST]) == 0
        written = read16(out)
        assert written.dtype == np.uint16
        np.testing.assert_array_equal(written, original)
        embedded = Image.open(out).info["icc_profile"]
        assert embedded == adobe().data
        assert "Adobe RGB" in ImageCms.getProfileDescription(
            ImageCms.ImageCmsProfile(io.BytesIO(embedded)))
        report = json.loads(report_path(out).read_text())
        assert report["output_file"]["bit_depth"] == 16
        assert "Adobe RGB" in report["colour"]["output_profile"]


@needs_profiles
def test_full_look_keeps_16_bits_and_srgb_output_matches_littlecms(
        image_pair, shallow_vgg_file: Path, tmp_path: Path) -> None:
    content, _ = wide_content(tmp_path)
    _, style = image_pair
    wide, srgb8 = tmp_path / "wide.png", tmp_path / "srgb.png"
    common = ["-c", str(content), "-s", str(style), "--vgg-weights", str(shallow_vgg_file), *FAST]
    assert main(["transfer", *common, "-o", str(wide)]) == 0
    assert main(["transfer", *common, "-o", str(srgb8), "--output-profile", "srgb",
                 "--bit-depth", "8"]) == 0
    pixels = read16(wide)
    assert pixels.dtype == np.uint16 and np.any(pixels % 257 != 0)  # not 8 bits widened
    # the sRGB output is the wide one as littleCMS converts it (8-bit rounding apart),
    # wherever the wide output was not clipped at the edge of its own gamut
    converted = ImageCms.profileToProfile(
        Image.fromarray((pixels / 257.0 + 0.5).astype(np.uint8)),
        ImageCms.ImageCmsProfile(io.BytesIO(adobe().data)),
        ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")),
        renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC)
    assert converted is not None
    ours = np.asarray(Image.open(srgb8).convert("RGB"), np.int16)
    inside = ((pixels > 0) & (pixels < 65535)).all(axis=2)
    assert inside.mean() > 0.5
    difference = np.abs(ours - np.asarray(converted, np.int16))[inside]
    assert difference.max() <= 3 and difference.mean() < 0.5
    assert Image.open(srgb8).info["icc_profile"] == icc.srgb().data


def test_16_bit_png_and_tiff_are_read_at_full_precision_and_turned_upright(
        tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 65536, (6, 9, 3), dtype=np.uint16)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned: shown rotated 90 degrees clockwise
    for ext in ("png", "tif"):
        plain = save_image(pixels / 65535.0, tmp_path / f"plain.{ext}", bit_depth=16)
        np.testing.assert_array_equal(read16(plain), pixels)  # libpng / libtiff agree
        path = save_image(pixels / 65535.0, tmp_path / f"p.{ext}", bit_depth=16,
                          metadata=Metadata(exif.tobytes()))
        photo = read_photo(path)
        assert photo.bit_depth == 16 and photo.pixels.shape == (9, 6, 3)
        upright = np.rot90(pixels, -1)  # clockwise
        np.testing.assert_array_equal(np.round(photo.pixels * 65535).astype(np.uint16), upright)


def test_16_bit_output_carries_exif_gps_and_xmp(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[271], exif[272] = "Canon", "EOS R5"
    exif.get_ifd(0x8769)[33434] = 0.004  # exposure time, in the EXIF directory
    exif.get_ifd(0x8825)[1] = "N"  # GPS latitude ref, in the GPS directory
    metadata = Metadata(exif.tobytes(), b"<x:xmpmeta>rating 5</x:xmpmeta>")
    for ext in ("png", "tif"):
        path = save_image(gradient_image(8, 8), tmp_path / f"m.{ext}", bit_depth=16,
                          metadata=metadata)
        with Image.open(path) as im:
            read = im.getexif()
            assert read[271] == "Canon" and read[272] == "EOS R5"
            assert float(read.get_ifd(0x8769)[33434]) == pytest.approx(0.004)
            assert read.get_ifd(0x8825)[1] == "N"
            xmp = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
            assert xmp is not None and b"rating 5" in (xmp if isinstance(xmp, bytes)
                                                       else xmp.encode())


def _png_with_chunk(pixels: np.ndarray, chunk: bytes, data: bytes, path: Path) -> Path:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    raw = buffer.getvalue()
    new = struct.pack(">I", len(data)) + chunk + data + struct.pack(
        ">I", zlib.crc32(chunk + data) & 0xFFFFFFFF)
    path.write_bytes(raw[:33] + new + raw[33:])
    return path


def test_broken_profile_is_reported_and_the_photo_read_as_srgb(
        image_pair, shallow_vgg_file: Path, tmp_path: Path, caplog) -> None:
    pixels = (gradient_image(40, 56) * 255).astype(np.uint8)
    broken = _png_with_chunk(pixels, b"iCCP", b"bad\0\0" + zlib.compress(b"not a profile" * 20),
                             tmp_path / "broken.png")
    before = broken.read_bytes()
    caplog.set_level(logging.WARNING, logger="photostyle")
    photo = read_photo(broken, what="content image")
    assert photo.profile is None and photo.icc is None
    assert "broken.png" in caplog.text and "profile" in caplog.text
    np.testing.assert_array_equal(np.round(photo.pixels * 255).astype(np.uint8), pixels)
    out = tmp_path / "out.png"
    _, style = image_pair
    assert main(["transfer", "-c", str(broken), "-s", str(style), "-o", str(out),
                 "--vgg-weights", str(shallow_vgg_file), *FAST]) == 0
    assert "icc_profile" not in Image.open(out).info  # nothing broken is passed on
    assert broken.read_bytes() == before


@pytest.mark.skipif(not Path("/usr/share/color/icc/Gray.icc").exists(),
                    reason="Debian's icc-profiles-free is not installed")
def test_greyscale_profile_is_converted_by_littlecms() -> None:
    grey = Image.fromarray(np.linspace(0, 255, 64, dtype=np.uint8).reshape(8, 8), "L")
    grey.info["icc_profile"] = Path("/usr/share/color/icc/Gray.icc").read_bytes()
    photo = read_photo(grey)
    assert photo.profile is None and "littleCMS" in photo.colour
    assert photo.pixels.shape == (8, 8, 3)
    assert np.ptp(photo.pixels[..., 0] - photo.pixels[..., 1]) < 0.02  # still neutral grey


def test_sixteen_bit_palette_png_gets_a_clear_error(tmp_path: Path) -> None:
    """A palette PNG cannot have 16 bits: the header says so, the message names the file."""
    path = tmp_path / "pal16.png"
    ihdr = struct.pack(">IIBBBBB", 4, 4, 16, 3, 0, 0, 0)
    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(
        ">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk + b"\0\0\0\0IEND\xaeB`\x82")
    with pytest.raises(InputError, match="pal16.png"):
        read_photo(path, what="content image")


def test_sixteen_bits_into_jpeg_is_refused_before_any_work(image_pair, shallow_vgg_file: Path,
                                                           tmp_path: Path, capsys) -> None:
    content, style = image_pair
    out = tmp_path / "x.jpg"
    assert main(["transfer", "-c", str(content), "-s", str(style), "-o", str(out),
                 "--vgg-weights", str(shallow_vgg_file), "--bit-depth", "16", *FAST]) == 2
    assert "8 bits" in capsys.readouterr().err and not out.exists()


def test_saved_look_re_renders_any_strength_and_size(image_pair, shallow_vgg_file: Path,
                                                     tmp_path: Path) -> None:
    content, style = image_pair
    full, half = tmp_path / "full.png", tmp_path / "half.png"
    common = ["-c", str(content), "-s", str(style), "--vgg-weights", str(shallow_vgg_file), *FAST]
    assert main(["transfer", *common, "-o", str(full)]) == 0
    assert main(["transfer", *common, "-o", str(half), "--strength", "0.5"]) == 0
    saved = transforms_path(full)
    assert saved.exists() and saved.stat().st_size < 200_000
    # apply at 0.5 gives what a transfer at 0.5 gives, at 1 the transfer's own output
    again = tmp_path / "again.png"
    assert main(["apply", "-c", str(content), "--look-of", str(full), "-o", str(again),
                 "--strength", "0.5", "-q"]) == 0
    np.testing.assert_array_equal(np.asarray(Image.open(again)), np.asarray(Image.open(half)))
    same = tmp_path / "same.png"
    assert main(["apply", "-c", str(content), "-t", str(saved), "-o", str(same), "-q"]) == 0
    np.testing.assert_array_equal(np.asarray(Image.open(same)), np.asarray(Image.open(full)))
    # and at another size, through the report
    big = tmp_path / "big.png"
    assert main(["apply", "-c", str(content), "-t", str(saved), "-o", str(big),
                 "--output-size", "112", "-q"]) == 0
    assert Image.open(big).size == (112, 80)
    report = json.loads(report_path(big).read_text())
    assert report["look"]["content"] == str(content) and report["strength"] == 1.0


def test_look_file_round_trip_and_bad_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    look = Look(rng.random((5, 7, 3, 3), dtype=np.float32),
                rng.random((5, 7, 3), dtype=np.float32), {"content": "x.png"})
    path = look.save(tmp_path / "look.npz")
    back = Look.load(path)
    np.testing.assert_array_equal(back.a, look.a)
    assert back.info["content"] == "x.png" and back.info["format"] == "photostyle-transforms"
    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(InputError, match="text.npz"):
        Look.load(text)
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(3))
    with pytest.raises(InputError, match="not a photostyle transforms file"):
        Look.load(other)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, a=np.array([{"evil": 1}], dtype=object), b=np.zeros(1),
             info=np.zeros(1, np.uint8))
    with pytest.raises(InputError, match="pickled.npz"):
        Look.load(pickled)
    wrong = Look(look.a[..., :2], look.b, {})
    wrong.save(tmp_path / "wrong.npz")
    with pytest.raises(InputError, match="shapes"):
        Look.load(tmp_path / "wrong.npz")


def test_apply_refuses_a_photo_of_another_shape(image_pair, shallow_vgg_file: Path,
                                                tmp_path: Path, capsys) -> None:
    content, style = image_pair
    out = tmp_path / "full.png"
    assert main(["transfer", "-c", str(content), "-s", str(style), "-o", str(out),
                 "--vgg-weights", str(shallow_vgg_file), *FAST]) == 0
    tall = save_png(gradient_image(80, 40), tmp_path / "tall.png")
    assert main(["apply", "-c", str(tall), "--look-of", str(out), "-o",
                 str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "tall.png" in err and "aspect" in err
    assert not (tmp_path / "x.png").exists()


def test_preview_preset_needs_no_network_and_limits_the_size(image_pair, tmp_path: Path) -> None:
    """No VGG19 weights exist here (offline, empty cache): the preview still runs."""
    _, style = image_pair
    big = save_png(gradient_image(600, 900, 2), tmp_path / "big.png")
    out = tmp_path / "preview.jpg"
    assert main(["transfer", "-c", str(big), "-s", str(style), "-o", str(out),
                 "--preset", "preview", "--segment", "none", "-q"]) == 0
    assert Image.open(out).size == (700, 467)
    report = json.loads(report_path(out).read_text())
    assert report["preset"] == "preview" and report["evaluations"] == 0
    assert report["vgg_weights"] is None and report["config"]["output_limit"] == 700
    # the per-region colour transfer moved the colours towards the style's
    content_mean = np.asarray(Image.open(big), np.float64).mean(axis=(0, 1))
    out_mean = np.asarray(Image.open(out), np.float64).mean(axis=(0, 1))
    style_mean = np.asarray(Image.open(style), np.float64).mean(axis=(0, 1))
    assert np.abs(out_mean - style_mean).sum() < np.abs(content_mean - style_mean).sum() / 2
    # a photo smaller than 700 px is not enlarged
    content, _ = image_pair
    small = tmp_path / "small.png"
    assert main(["transfer", "-c", str(content), "-s", str(style), "-o", str(small),
                 "--preset", "preview", "--segment", "none", "-q"]) == 0
    assert Image.open(small).size == Image.open(content).size


def test_presets_fill_what_the_options_do_not_give(image_pair, vgg_file: Path,
                                                   tmp_path: Path) -> None:
    from photostyle.engine.config import PAPER_CONTENT_LAYER, PRESETS, preset_config
    from photostyle.errors import ConfigError

    content, style = image_pair
    out = tmp_path / "paper.png"
    assert main(["transfer", "-c", str(content), "-s", str(style), "-o", str(out),
                 "--preset", "paper", "--vgg-weights", str(vgg_file), "--iterations", "2",
                 "--size", "32", "--segment", "none", "-q"]) == 0
    config = json.loads(report_path(out).read_text())["config"]
    assert config["content_layer"] == PAPER_CONTENT_LAYER and len(config["style_layers"]) == 5
    assert config["iterations"] == [2] and config["size"] == 32  # given: they win
    assert config["matting_weight"] == 1e4 and config["flat_weight"] == 0.0  # from the preset
    out = tmp_path / "artistic.png"
    assert main(["transfer", "-c", str(content), "-s", str(style), "-o", str(out),
                 "--preset", "artistic", "--vgg-weights", str(vgg_file), "--iterations", "2",
                 "--size", "32", "--scales", "1", "-q"]) == 0
    config = json.loads(report_path(out).read_text())["config"]
    assert (config["smooth"], config["matting_weight"], config["segment"]) == ("none", 0.0,
                                                                               "none")
    assert preset_config("default") == preset_config("default", size=400)
    assert set(PRESETS) == {"preview", "default", "strong", "quality", "paper", "artistic"}
    with pytest.raises(ConfigError, match="preset"):
        preset_config("fast")


@needs_profiles
@pytest.mark.parametrize("ext", ["jpg", "webp", "tif", "png"])
def test_profiles_are_read_from_every_format_and_kept_in_8_bit_outputs(ext: str,
                                                                        tmp_path: Path) -> None:
    pixels = (gradient_image(24, 32) * 255).astype(np.uint8)
    path = tmp_path / f"adobe.{ext}"
    Image.fromarray(pixels).save(path, icc_profile=adobe().data,
                                 **({"quality": 100} if ext in ("jpg", "webp") else {}))
    photo = read_photo(path)
    assert photo.profile is not None and "Adobe RGB" in photo.profile.name
    assert photo.icc == adobe().data and photo.bit_depth == 8
    # read as sRGB, the colours are the Adobe RGB ones converted (more saturated than the
    # same numbers taken as sRGB)
    srgb = photo.srgb()
    expected = np.clip(icc.convert(photo.pixels, adobe(), icc.srgb()), 0, 1)
    np.testing.assert_allclose(srgb, expected, atol=1e-6)
    out = save_image(photo.pixels, tmp_path / f"out.{ext}", icc_profile=photo.icc)
    assert Image.open(out).info.get("icc_profile") == adobe().data


def _npz_declaring(path: Path, shapes: dict[str, tuple[tuple[int, ...], str]]) -> Path:
    """An archive whose members declare ``shapes`` in their headers, with almost no data."""
    import zipfile

    from numpy.lib import format as npy_format

    with zipfile.ZipFile(path, "w") as archive:
        for name, (shape, dtype) in shapes.items():
            header = io.BytesIO()
            npy_format.write_array_header_1_0(header, {"descr": np.dtype(dtype).str,
                                                       "fortran_order": False, "shape": shape})
            archive.writestr(f"{name}.npy", header.getvalue() + b"\0" * 64)
    return path


def test_apply_refuses_look_files_that_declare_huge_members_naming_the_file(
        image_pair, tmp_path: Path, capsys) -> None:
    content, _ = image_pair
    fine = {"a": ((4, 5, 3, 3), "<f4"), "b": ((4, 5, 3), "<f4"), "info": ((8,), "|u1")}
    cases = {"a": ((10**6, 10**6, 3, 3), "<f4"), "b": ((10**5, 10**5, 3), "<f4"),
             "info": ((10**12,), "|u1")}
    for member, declared in cases.items():
        look = _npz_declaring(tmp_path / f"huge-{member}.npz", {**fine, member: declared})
        assert main(["apply", "-c", str(content), "-t", str(look), "-o",
                     str(tmp_path / "out.png"), "-q"]) == 2
        err = capsys.readouterr().err
        assert f"huge-{member}.npz" in err and f"'{member}'" in err, err
        assert "out of memory" not in err and "--size" not in err
    text = tmp_path / "notes.npz"
    text.write_text("a text file, not a look")
    assert main(["apply", "-c", str(content), "-t", str(text), "-o",
                 str(tmp_path / "out.png"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "notes.npz: not a photostyle transforms file" in err
    assert "pickle" not in err  # no advice to load pickled data
    assert not (tmp_path / "out.png").exists()
