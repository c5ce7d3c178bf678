"""Metadata and odd TIFFs, read back by outside readers: EXIF with every tag's own type, the
orientation reset in EXIF and XMP, BigTIFF and LONG orientation tags, Pillow's own pixel
limit, and exact 16-bit round trips through every matrix profile.

Sources are written by exiftool and libtiff where they are installed (``.ci/run`` installs
Debian's ``libimage-exiftool-perl`` and ``libtiff-tools``); the tests that need them skip
otherwise.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photostyle.cli import main
from photostyle.errors import InputError
from photostyle.files import exif as tiff
from photostyle.files.images import orient, read_photo
from photostyle.files.metadata import read_metadata
from photostyle.files.writers import save_image

from ..conftest import gradient_image, save_png

EXIFTOOL = shutil.which("exiftool")
TIFFINFO = shutil.which("tiffinfo")
TIFFCP = shutil.which("tiffcp")
needs_exiftool = pytest.mark.skipif(EXIFTOOL is None, reason="exiftool is not installed")
FAST = ["--content-layer", "relu2_1", "--style-layers", "relu1_1,relu2_1", "--size", "32",
        "--iterations", "2", "--segment", "none", "-q"]
#: What exiftool -validate says of a broken EXIF block or a re-typed tag.
BROKEN = ("Non-standard format", "Bad IFD", "Invalid magic", "Short directory", "Error")


def exiftool(*args: str) -> str:
    assert EXIFTOOL is not None
    return subprocess.run([EXIFTOOL, *args], capture_output=True, text=True, check=True).stdout


def tags(path: Path) -> dict[str, str]:
    """exiftool's numeric values of the tags these tests check."""
    out = exiftool("-a", "-n", "-s", "-G1", "-Orientation", "-XMP-tiff:Orientation",
                   "-ComponentsConfiguration", "-Make", "-ExposureTime", "-GPS:GPSLatitude",
                   "-XMP-dc:Title", str(path))
    found = {}
    for line in out.splitlines():
        key, _, value = line.partition(":")
        found[" ".join(key.split())] = value.strip()
    return found


def camera_jpeg(path: Path) -> Path:
    """A JPEG as a camera and an editor leave it, written by exiftool: turned (EXIF and XMP
    orientation 6), ComponentsConfiguration (UNDEFINED), exposure, GPS, a title."""
    Image.fromarray((gradient_image(40, 56) * 255).astype(np.uint8)).save(path, quality=90)
    exiftool("-q", "-overwrite_original", "-Make=Canon", "-Model=EOS R5", "-Orientation#=6",
             "-ComponentsConfiguration=1 2 3 0", "-ExposureTime=1/250", "-FNumber=2.8",
             "-GPSLatitude=48.85", "-GPSLatitudeRef=N", "-XMP-tiff:Orientation#=6",
             "-XMP-dc:Title=harbour", "-InteropIndex=R98", str(path))
    return path


@needs_exiftool
def test_exif_keeps_every_type_and_the_orientation_is_reset_in_exif_and_xmp(
        tmp_path: Path) -> None:
    source = camera_jpeg(tmp_path / "camera.jpg")
    assert tags(source)["[IFD0] Orientation"] == "6"
    metadata = read_metadata(source)
    upright = gradient_image(56, 40)
    outputs = [save_image(upright, tmp_path / f"out.{ext}", metadata=metadata)
               for ext in ("jpg", "png", "tif", "webp")]
    outputs += [save_image(upright, tmp_path / f"out16.{ext}", metadata=metadata, bit_depth=16)
                for ext in ("png", "tif")]
    for out in outputs:
        report = exiftool("-validate", "-warning", "-a", str(out))
        assert not [w for w in report.splitlines() if any(b in w for b in BROKEN)], (out, report)
        found = tags(out)
        assert found["[IFD0] Orientation"] == "1", (out, found)
        assert found["[XMP-tiff] Orientation"] == "1", (out, found)  # not turned again
        assert found["[ExifIFD] ComponentsConfiguration"] == "1 2 3 0", (out, found)
        assert found["[IFD0] Make"] == "Canon" and found["[XMP-dc] Title"] == "harbour"
        assert found["[ExifIFD] ExposureTime"] == "0.004", found
        assert found["[GPS] GPSLatitude"].startswith("48.85"), found
        with Image.open(out) as im:  # and Pillow reads it
            assert im.getexif()[271] == "Canon"
    if TIFFINFO:  # libtiff reads the TIFFs without a warning (a re-typed tag had one)
        for out in (tmp_path / "out.tif", tmp_path / "out16.tif"):
            check = subprocess.run([TIFFINFO, "-D", str(out)], capture_output=True, text=True)
            assert check.returncode == 0 and "Warning" not in check.stderr, check.stderr


@needs_exiftool
def test_a_bigtiff_content_is_written_with_valid_exif(tmp_path: Path, image_pair,
                                                      shallow_vgg_file: Path) -> None:
    big = tmp_path / "big.tif"
    exif = Image.Exif()
    exif[271], exif[272], exif[0x0132] = "Canon", "EOS R5", "2024:05:01 10:00:00"
    Image.fromarray((gradient_image(40, 56) * 255).astype(np.uint8)).save(
        big, big_tiff=True, exif=exif)
    assert big.read_bytes()[:4] == b"II+\0"  # a BigTIFF
    _, style = image_pair
    for ext in ("png", "jpg", "tif"):
        out = tmp_path / f"out.{ext}"
        assert main(["transfer", "-c", str(big), "-s", str(style), "-o", str(out),
                     "--vgg-weights", str(shallow_vgg_file), *FAST]) == 0
        report = exiftool("-validate", "-warning", "-a", str(out))
        assert not [w for w in report.splitlines() if any(b in w for b in BROKEN)], report
        with Image.open(out) as im:
            assert im.getexif()[271] == "Canon" and im.getexif()[0x0132].startswith("2024")


@pytest.mark.skipif(TIFFCP is None, reason="libtiff-tools (tiffcp) is not installed")
@pytest.mark.parametrize("kind", ["short", "long"])
def test_16_bit_tiffs_turned_by_a_short_or_long_tag_and_as_bigtiff(tmp_path: Path,
                                                                   kind: str) -> None:
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 65536, (6, 9, 3), dtype=np.uint16)
    E = tiff.Entry
    turn = E.short(274, 6) if kind == "short" else E.long(274, 6)
    dirs = tiff.Directories([E.long(256, 9), E.long(257, 6), E.short(258, 16, 16, 16),
                             E.short(259, 8), E.short(262, 2), E.short(277, 3),
                             E.long(278, 6), E.short(284, 1), turn], {})
    classic = tmp_path / "classic.tif"
    classic.write_bytes(tiff.build(dirs, [zlib.compress(pixels.astype("<u2").tobytes())]))
    big = tmp_path / "big.tif"
    subprocess.run([TIFFCP, "-8", str(classic), str(big)], check=True)  # libtiff's BigTIFF
    assert big.read_bytes()[:4] == b"II+\0"
    for path in (classic, big):
        photo = read_photo(path)
        assert photo.bit_depth == 16 and photo.pixels.shape == (9, 6, 3), path
        want = orient(pixels.astype(np.float32) / 65535, 6)
        np.testing.assert_array_equal(np.round(photo.pixels * 65535), np.round(want * 65535))


def test_pillows_own_limit_does_not_refuse_what_max_pixels_allows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pillow refuses 89.5 megapixels by default, below the 150 of --max-pixels: a 100 MP
    camera file could never be read. Shown here with Pillow's limit set below a small
    photo's size: photostyle's own limit decides, and Pillow's is left as it was."""
    path = save_png(gradient_image(40, 56), tmp_path / "photo.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    assert read_photo(path, max_pixels=150_000_000).pixels.shape == (40, 56, 3)
    assert read_metadata(path) is not None
    assert Image.MAX_IMAGE_PIXELS == 1000
    with pytest.raises(InputError, match="exceeds the limit of 2,000 pixels"):
        read_photo(path, max_pixels=2000)


@pytest.mark.parametrize("name", ["ProPhotoRGB.icc", "AdobeRGB1998.icc", "WideGamutRGB.icc"])
def test_every_16_bit_level_comes_back_at_strength_zero(tmp_path: Path, name: str,
                                                        image_pair,
                                                        shallow_vgg_file: Path) -> None:
    """Dark levels of a wide-gamut 16-bit photo, with and without the other channels, at
    strength 0: written back bit for bit (ProPhoto's near-black reds moved by up to 8 levels
    through a gap in sRGB's rounded curve parameters)."""
    profile = Path("/usr/share/color/icc/colord") / name
    if not profile.exists():
        pytest.skip("Debian's colord-data is not installed")
    levels = np.arange(4096, dtype=np.uint16).reshape(64, 64)
    zero = np.zeros_like(levels)
    rng = np.random.default_rng(1)
    pixels = np.concatenate([np.stack(channels, axis=-1) for channels in (
        (levels, zero, zero), (zero, levels, zero), (zero, zero, levels),  # dark primaries
        (levels, levels, levels), (levels, levels, rng.integers(0, 65536, levels.shape)),
    )]).astype(np.uint16)
    content = save_image(pixels / 65535.0, tmp_path / "wide.tif", bit_depth=16,
                         icc_profile=profile.read_bytes())
    out = tmp_path / "same.tif"
    _, style = image_pair
    assert main(["transfer", "-c", str(content), "-s", str(style), "-o", str(out),
                 "--vgg-weights", str(shallow_vgg_file), "--strength", "0", *FAST]) == 0
    import cv2

    written = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)[..., ::-1]
    np.testing.assert_array_equal(written, pixels)


# the TIFF structures by hand ----------------------------------------------------------------


def test_directories_round_trip_with_types_and_byte_order() -> None:
    """A big-endian block (as many cameras write) read and written little-endian: each
    value the same number, each tag its own type."""
    def entry(tag: int, kind: int, count: int, value: bytes) -> bytes:
        return struct.pack(">HHI", tag, kind, count) + value.ljust(4, b"\0")

    # IFD0 at 8: Make (ASCII, out of line), Orientation (SHORT 6), pointer to EXIF
    make = b"Nikon\0"
    ifd0_len = 2 + 3 * 12 + 4
    make_at = 8 + ifd0_len
    exif_at = make_at + len(make)
    ifd0 = (struct.pack(">H", 3) + entry(271, 2, len(make), struct.pack(">I", make_at))
            + entry(274, 3, 1, struct.pack(">H", 6)) + entry(0x8769, 4, 1,
                                                              struct.pack(">I", exif_at))
            + struct.pack(">I", 0))
    exposure_at = exif_at + 2 + 2 * 12 + 4
    exif = (struct.pack(">H", 2) + entry(0x829A, 5, 1, struct.pack(">I", exposure_at))
            + entry(0x9101, 7, 4, b"\x01\x02\x03\x00") + struct.pack(">I", 0))
    block = b"MM\0*" + struct.pack(">I", 8) + ifd0 + make + exif + struct.pack(">II", 1, 250)
    dirs = tiff.read_directories(block)
    assert {e.tag: (e.kind, e.count) for e in dirs.ifd0} == {271: (2, 6), 274: (3, 1)}
    assert dirs.get(274).ints() == (6,) and dirs.get(271).value == make
    sub = {e.tag: e for e in dirs.subs[tiff.EXIF_IFD]}
    assert sub[0x829A].kind == 5 and struct.unpack("<II", sub[0x829A].value) == (1, 250)
    assert sub[0x9101].kind == 7 and sub[0x9101].value == b"\x01\x02\x03\x00"
    again = tiff.read_directories(tiff.build(dirs))  # little-endian now
    assert again == dirs
    with Image.open(__import__("io").BytesIO(_tiny_jpeg_with(tiff.build(dirs)))) as im:
        read = im.getexif()
        assert read[271] == "Nikon" and read[274] == 6
        assert float(read.get_ifd(0x8769)[0x829A]) == pytest.approx(0.004)


def _tiny_jpeg_with(block: bytes) -> bytes:
    buffer = __import__("io").BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="JPEG", exif=b"Exif\0\0" + block)
    return buffer.getvalue()


def test_broken_and_hostile_blocks_give_what_can_be_read() -> None:
    with pytest.raises(tiff.ExifError):
        tiff.read_directories(b"not a tiff at all")
    # a directory pointing at itself, a count of 65535, values beyond the block
    loop = b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", 2) + struct.pack(
        "<HHII", 0x8769, 4, 1, 8) + struct.pack("<HHII", 271, 2, 10**6, 4) + struct.pack(
        "<I", 8)
    dirs = tiff.read_directories(loop)
    assert dirs.ifd0 == [] and dirs.subs == {tiff.EXIF_IFD: []}
    huge = b"II*\0" + struct.pack("<IH", 8, 65535) + b"\0" * 40
    assert len(tiff.read_directories(huge)) == 0
    # BigTIFF's 64-bit values become 32-bit ones where they fit, else they are dropped
    big = (b"II+\0" + struct.pack("<HHQ", 8, 0, 16) + struct.pack("<Q", 2)
           + struct.pack("<HHQQ", 256, 16, 1, 4000) + struct.pack("<HHQQ", 257, 16, 1, 2**40)
           + struct.pack("<Q", 0))
    entries = tiff.read_directories(big).ifd0
    assert [(e.tag, e.kind, e.ints()) for e in entries] == [(256, 4, (4000,))]


def lightroom_xmp_tiff(path: Path) -> Path:
    """A 16-bit TIFF as Lightroom hands it to an external editor: a document and instance ID,
    a history, Camera Raw develop settings, a title and keywords (written by exiftool)."""
    save_image(gradient_image(40, 56), path, bit_depth=16)
    exiftool("-q", "-overwrite_original", "-Make=Nikon", "-XMP-dc:Title=harbour",
             "-XMP-dc:Subject=boats", "-XMP-xmpMM:DocumentID=xmp.did:1234-abcd",
             "-XMP-xmpMM:InstanceID=xmp.iid:old-instance", "-XMP-xmp:CreatorTool=Lightroom",
             "-XMP-crs:Exposure2012=+0.50", "-XMP-crs:Temperature=5500",
             "-XMP-crs:ToneCurvePV2012=0, 0", "-XMP-xmpMM:HistoryAction=derived",
             "-XMP-xmpMM:HistorySoftwareAgent=Adobe Lightroom", str(path))
    return path


def xmp_tags(path: Path) -> dict[str, str]:
    import json

    out = exiftool("-j", "-a", "-G1", "-struct", "-XMP:all", "-IFD0:Software", str(path))
    return json.loads(out)[0]


@needs_exiftool
def test_output_xmp_is_a_new_instance_by_photostyle_without_develop_settings(
        tmp_path: Path) -> None:
    source = lightroom_xmp_tiff(tmp_path / "DSC_0001.tif")
    before = xmp_tags(source)
    assert before["XMP-crs:Exposure2012"] in ("+0.50", 0.5, "0.5")
    style = save_png(gradient_image(40, 56)[::-1].copy(), tmp_path / "style.png")
    for ext in ("tif", "jpg", "png"):
        out = tmp_path / f"out.{ext}"
        assert main(["transfer", "-c", str(source), "-s", str(style), "-o", str(out),
                     *FAST]) == 0
        after = xmp_tags(out)
        assert not [k for k in after if k.startswith("XMP-crs:")], after
        assert after["XMP-xmpMM:DocumentID"] == "xmp.did:1234-abcd"
        assert after["XMP-xmpMM:InstanceID"].startswith("xmp.iid:")
        assert after["XMP-xmpMM:InstanceID"] != "xmp.iid:old-instance"
        assert after["XMP-xmp:CreatorTool"].startswith("photostyle")
        assert after["IFD0:Software"].startswith("photostyle")
        assert after["XMP-dc:Title"] == "harbour"
        assert after["XMP-dc:Subject"] in ("boats", ["boats"])
        history = after["XMP-xmpMM:History"]
        assert [e["Action"] for e in history] == ["derived", "converted"]
        assert history[-1]["SoftwareAgent"].startswith("photostyle")
        assert history[-1]["InstanceID"] == after["XMP-xmpMM:InstanceID"]
        # exiftool finds nothing wrong with the metadata (it calls Adobe Deflate, which
        # every TIFF reader reads, a non-baseline compression)
        warnings = [line for line in exiftool("-validate", "-warning", "-a", str(out))
                    .splitlines() if line.startswith("Warning") and "Compression" not in line]
        assert not warnings
    assert xmp_tags(source) == before  # the content is untouched


def test_output_xmp_of_a_photo_without_any_and_of_a_hostile_packet() -> None:
    from photostyle.files import xmp

    fresh = xmp.for_output(None)
    assert b"xmpMM:DocumentID=\"xmp.did:" in fresh and b"photostyle" in fresh
    bomb = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
            b'<x:xmpmeta xmlns:x="adobe:ns:meta/">&b;</x:xmpmeta>')
    replaced = xmp.for_output(bomb)
    assert b"aaaa" not in replaced and b"ENTITY" not in replaced
    assert b"CreatorTool" in xmp.for_output(b"<not xml")
