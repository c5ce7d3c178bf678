"""The command line end to end on tiny images with random-weight networks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photostyle.cli import main
from photostyle.runs.outputs import report_path

FAST = ["--content-layer", "relu2_1", "--style-layers", "relu1_1,relu2_1", "--size", "32",
        "--iterations", "3", "--segment", "none", "-q"]


def run(*args: str) -> int:
    return main(list(args))


def test_transfer_end_to_end(image_pair, shallow_vgg_file: Path, tmp_path: Path) -> None:
    content, style = image_pair
    out = tmp_path / "out" / "result.jpg"
    code = run("transfer", "-c", str(content), "-s", str(style), "-o", str(out),
               "--vgg-weights", str(shallow_vgg_file), *FAST)
    assert code == 0
    assert Image.open(out).size == Image.open(content).size
    report = json.loads(report_path(out).read_text())
    assert report["status"] == "completed"
    assert report["config"]["content_layer"] == "relu2_1"
    assert report["vgg_weights"] == str(shallow_vgg_file)
    assert report["levels"][-1]["final"]["total"] > 0
    assert report["seed"] == 0 and "torch" in report["versions"]
    assert report["config"]["bounds"] == "project"


def test_bounds_and_precondition_options_reach_the_run(image_pair, shallow_vgg_file: Path,
                                                        tmp_path: Path) -> None:
    content, style = image_pair
    for name, options, expected in (
        ("clamped", ("--bounds", "clamp"), ("clamp", 5, 2.0)),
        ("pre", ("--precondition", "3", "--precondition-boost", "1.5"), ("project", 3, 1.5)),
    ):
        out = tmp_path / f"{name}.png"
        assert run("transfer", "-c", str(content), "-s", str(style), "-o", str(out),
                   "--vgg-weights", str(shallow_vgg_file), *options, *FAST) == 0
        config = json.loads(report_path(out).read_text())["config"]
        assert (config["bounds"], config["precondition_levels"],
                config["precondition_boost"]) == expected


def test_default_layers_are_the_verified_ones_and_the_papers_need_deep_weights(
        image_pair, shallow_vgg_file: Path, tmp_path: Path, capsys) -> None:
    content, style = image_pair
    out = tmp_path / "o.png"
    base = ["transfer", "-c", str(content), "-s", str(style), "-o", str(out), "--vgg-weights",
            str(shallow_vgg_file), "--size", "32", "--iterations", "2", "--segment", "none",
            "-q"]
    assert run(*base) == 0  # weights up to relu3_4, like ../shared's, cover the defaults
    config = json.loads(report_path(out).read_text())["config"]
    assert config["content_layer"] == "relu3_1"  # relu3_2 until issue 33 (--preset strong)
    assert config["style_layers"] == ["relu1_1", "relu2_1", "relu3_1"]
    out.unlink()
    code = run(*base, "--content-layer", "relu4_2", "--style-layers",
               "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1")
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "lacks conv4_1" in err[0] and "Traceback" not in err[0]
    assert not out.exists()


def test_full_depth_random_weights(image_pair, vgg_file: Path, tmp_path: Path) -> None:
    content, style = image_pair
    out = tmp_path / "o.png"
    assert run("transfer", "-c", str(content), "-s", str(style), "-o", str(out),
               "--vgg-weights", str(vgg_file), "--size", "64", "--iterations", "2",
               "--segment", "none", "-q") == 0
    assert out.exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["-c", "nope.png"], "content image nope.png: file not found"),
        (["--style-layers", "relu1_1,bogus"], "unknown VGG19 layer 'bogus'"),
        (["--size", "-3"], "size: must be between"),
        (["-o", "result.txt"], "unknown image extension"),
        (["--vgg-weights", "missing.pth"], "missing.pth: file not found"),
    ],
)
def test_bad_input_one_line_exit_2(image_pair, shallow_vgg_file: Path, tmp_path: Path, capsys,
                                   monkeypatch, change: list[str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    content, style = image_pair
    args = {"-c": str(content), "-s": str(style), "-o": "o.png",
            "--vgg-weights": str(shallow_vgg_file)}
    extra = []
    for i in range(0, len(change), 2):
        if change[i] in args:
            args[change[i]] = change[i + 1]
        else:
            extra += change[i : i + 2]
    flat = [x for kv in args.items() for x in kv]
    code = run("transfer", *flat, *FAST, *extra)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "o.png.json").exists()


def test_output_over_input_refused(image_pair, shallow_vgg_file: Path, capsys) -> None:
    content, style = image_pair
    before = content.read_bytes()
    code = run("transfer", "-c", str(content), "-s", str(style), "-o", str(content),
               "--vgg-weights", str(shallow_vgg_file), *FAST)
    assert code == 2 and "is an input file" in capsys.readouterr().err
    assert content.read_bytes() == before


def test_not_an_image(tmp_path: Path, shallow_vgg_file: Path, image_pair, capsys) -> None:
    fake = tmp_path / "photo.jpg"
    fake.write_text("hello")
    code = run("transfer", "-c", str(fake), "-s", str(image_pair[1]), "-o",
               str(tmp_path / "o.png"), "--vgg-weights", str(shallow_vgg_file), *FAST)
    assert code == 2 and "photo.jpg: not an image" in capsys.readouterr().err


def test_missing_weights_offline_is_fast_and_clear(image_pair, tmp_path: Path) -> None:
    """The paper's preset needs the whole VGG19 (a download): offline, one clear line."""
    content, style = image_pair
    env = {**os.environ, "PHOTOSTYLE_OFFLINE": "1", "TORCH_HOME": str(tmp_path / "th")}
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "photostyle", "transfer", "-c", str(content), "-s", str(style),
         "-o", str(tmp_path / "o.png"), "--segment", "none", "--preset", "paper"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    elapsed = time.perf_counter() - start
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "VGG19 original weights are not available" in lines[0]
    assert "vgg19-d01eb7cb.pth" in lines[0]
    assert "--vgg-weights" in lines[0] and str(tmp_path / "th") in lines[0]
    assert elapsed < 30  # includes interpreter and torch start-up
    assert not (tmp_path / "o.png").exists()


def test_verbose_shows_traceback(image_pair, tmp_path: Path, capsys) -> None:
    code = run("-v", "transfer", "-c", str(tmp_path / "x.png"), "-s", str(image_pair[1]),
               "-o", str(tmp_path / "o.png"))
    assert code == 2 and "Traceback" in capsys.readouterr().err


def test_sigint_writes_best_image(image_pair, shallow_vgg_file: Path, tmp_path: Path) -> None:
    content, style = image_pair
    out = tmp_path / "o.png"
    proc = subprocess.Popen(
        [sys.executable, "-m", "photostyle", "transfer", "-c", str(content), "-s", str(style),
         "-o", str(out), "--vgg-weights", str(shallow_vgg_file), "--content-layer",
         "relu2_1", "--style-layers", "relu1_1,relu2_1", "--size", "64", "--scales", "1",
         "--iterations", "100000", "--save-every", "1", "--segment", "none"],
        stderr=subprocess.PIPE, text=True,
    )
    snaps = tmp_path / "o.png-snapshots"
    deadline = time.time() + 600  # generous: shared CI machines can be very slow
    while time.time() < deadline and not (snaps.exists() and len(list(snaps.iterdir())) >= 2):
        time.sleep(0.2)
    proc.send_signal(2)  # SIGINT, as Ctrl-C
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert Image.open(out).size == Image.open(content).size
    report = json.loads(report_path(out).read_text())
    assert report["status"] == "interrupted"
    assert np.asarray(Image.open(out)).std() > 0


@pytest.mark.parametrize("smooth", ["local-affine", "none"])
def test_strength_zero_writes_the_content_back_exactly(image_pair, shallow_vgg_file: Path,
                                                       tmp_path: Path, smooth: str) -> None:
    """The whole file path at strength 0: the written PNG holds the content's own pixels."""
    content, style = image_pair
    out = tmp_path / "same.png"
    assert run("transfer", "-c", str(content), "-s", str(style), "-o", str(out),
               "--vgg-weights", str(shallow_vgg_file), "--strength", "0", "--smooth", smooth,
               *FAST) == 0
    np.testing.assert_array_equal(np.asarray(Image.open(out).convert("RGB")),
                                  np.asarray(Image.open(content).convert("RGB")))
    assert json.loads(report_path(out).read_text())["config"]["strength"] == 0.0
    # and a strength outside [0, 1] is refused by name before any work
    assert run("transfer", "-c", str(content), "-s", str(style), "-o", str(tmp_path / "x.png"),
               "--vgg-weights", str(shallow_vgg_file), "--strength", "1.5", *FAST) == 2
    assert not (tmp_path / "x.png").exists()


def test_compare_writes_content_style_and_result_side_by_side(image_pair, shallow_vgg_file: Path,
                                                               tmp_path: Path) -> None:
    from photostyle.runs.outputs import COMPARE_HEIGHT, compare_path

    content, style = image_pair
    out = tmp_path / "look.png"
    assert run("transfer", "-c", str(content), "-s", str(style), "-o", str(out), "--compare",
               "--vgg-weights", str(shallow_vgg_file), *FAST) == 0
    sheet = compare_path(out)
    assert sheet.name == "look.png-compare.png"
    with Image.open(sheet) as im:
        im.load()
        sheet_rgb = np.asarray(im.convert("RGB")).astype(int)
    # one row of three tiles, each COMPARE_HEIGHT px high and as wide as its aspect ratio
    widths = [round(w * COMPARE_HEIGHT / h) for w, h in
              (Image.open(content).size, Image.open(style).size, Image.open(out).size)]
    label_px = max(12, COMPARE_HEIGHT // 20)  # labels readable at the sheet's size
    assert sheet_rgb.shape[0] == COMPARE_HEIGHT + label_px + 12 + 8
    band = sheet_rgb[8 + COMPARE_HEIGHT:, :widths[0]]
    ink_rows = np.flatnonzero((band < 128).all(axis=2).any(axis=1))
    assert ink_rows.size and ink_rows[-1] - ink_rows[0] >= 0.6 * label_px  # not 8-px text
    assert sheet_rgb.shape[1] == sum(widths) + 8 * 3 + 8
    # the third tile is the written result, scaled up
    x0 = 8 + widths[0] + 8 + widths[1] + 8
    tile = sheet_rgb[8:8 + COMPARE_HEIGHT, x0:x0 + widths[2]]
    result = np.asarray(Image.open(out).convert("RGB").resize((widths[2], COMPARE_HEIGHT)))
    assert np.abs(tile - result.astype(int)).mean() < 3
    # without the flag, no comparison is written
    out2 = tmp_path / "plain.png"
    assert run("transfer", "-c", str(content), "-s", str(style), "-o", str(out2),
               "--vgg-weights", str(shallow_vgg_file), *FAST) == 0
    assert not compare_path(out2).exists()


XMP_PACKET = (b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
              b'<x:xmpmeta xmlns:x="adobe:ns:meta/">'
              b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
              b'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>Ansel</dc:creator>'
              b'</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>')


def _photo_with_metadata(path: Path) -> Path:
    """A small JPEG as a camera writes it: EXIF with make, model, date, GPS and an
    orientation of 6 (stored sideways, shown rotated 90 degrees), plus an XMP packet."""
    from PIL import ExifTags

    from ..conftest import gradient_image

    stored = Image.fromarray((gradient_image(56, 40) * 255).astype(np.uint8))  # 40 x 56
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Photostyle Camera Co"
    exif[ExifTags.Base.Model] = "PS-1"
    exif[ExifTags.Base.DateTime] = "2026:11:29 12:00:00"
    exif[ExifTags.Base.Orientation] = 6
    exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] = "N"
    exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitude] = (52.0, 22.0, 0.0)
    stored.save(path, exif=exif.tobytes(), xmp=XMP_PACKET, quality=95)
    return path


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".tif", ".webp"])
def test_metadata_is_carried_upright_or_stripped(image_pair, shallow_vgg_file: Path,
                                                 tmp_path: Path, suffix: str) -> None:
    from PIL import ExifTags

    _, style = image_pair
    content = _photo_with_metadata(tmp_path / "camera.jpg")
    out = tmp_path / f"styled{suffix}"
    assert run("transfer", "-c", str(content), "-s", str(style), "-o", str(out),
               "--vgg-weights", str(shallow_vgg_file), *FAST) == 0
    with Image.open(out) as im:
        exif = im.getexif()
        assert im.size == (56, 40)  # written upright: the stored 40x56 turned by the tag
        assert exif[ExifTags.Base.Make] == "Photostyle Camera Co"
        assert exif[ExifTags.Base.Model] == "PS-1"
        assert exif[ExifTags.Base.DateTime] == "2026:11:29 12:00:00"
        assert exif.get(ExifTags.Base.Orientation, 1) == 1  # so no viewer turns it again
        assert exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] == "N"
        xmp = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp") or b""
        if suffix == ".tif":
            xmp = im.tag_v2.get(700, b"")
        assert b"Ansel" in (xmp if isinstance(xmp, bytes) else xmp.encode())
    assert json.loads(report_path(out).read_text())["metadata"] == {
        "exif": True, "xmp": True, "stripped": False}
    assert content.read_bytes() == _photo_with_metadata(tmp_path / "again.jpg").read_bytes()

    stripped = tmp_path / f"stripped{suffix}"
    assert run("transfer", "-c", str(content), "-s", str(style), "-o", str(stripped),
               "--strip-metadata", "--vgg-weights", str(shallow_vgg_file), *FAST) == 0
    with Image.open(stripped) as im:
        exif = im.getexif()
        assert ExifTags.Base.Make not in exif and ExifTags.IFD.GPSInfo not in exif
        assert not im.info.get("xmp") and "XML:com.adobe.xmp" not in im.info


def test_jpeg_quality_is_used_and_checked(image_pair, shallow_vgg_file: Path,
                                          tmp_path: Path) -> None:
    content, style = image_pair
    sizes = {}
    for q in (20, 95):
        out = tmp_path / f"q{q}.jpg"
        assert run("transfer", "-c", str(content), "-s", str(style), "-o", str(out),
                   "--jpeg-quality", str(q), "--vgg-weights", str(shallow_vgg_file), *FAST) == 0
        sizes[q] = out.stat().st_size
    assert sizes[20] < sizes[95]
    assert run("transfer", "-c", str(content), "-s", str(style), "-o", str(tmp_path / "x.jpg"),
               "--jpeg-quality", "0", "--vgg-weights", str(shallow_vgg_file), *FAST) == 2


def test_metadata_from_a_tiff_content_leaves_its_layout_tags_behind(tmp_path: Path) -> None:
    from PIL import ExifTags

    from photostyle.files.metadata import Metadata, read_metadata
    from photostyle.files.writers import save_image

    from ..conftest import gradient_image

    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Scanner Co"
    source = tmp_path / "scan.tif"
    Image.fromarray((gradient_image(20, 30) * 255).astype(np.uint8)).save(
        source, exif=exif, compression="tiff_lzw")
    meta = read_metadata(source)
    assert isinstance(meta, Metadata) and meta.exif
    out = save_image(gradient_image(20, 30), tmp_path / "out.jpg", metadata=meta)
    with Image.open(out) as im:
        tags = im.getexif()
        assert tags[ExifTags.Base.Make] == "Scanner Co"
        assert not {256, 257, 259, 273, 279} & set(tags)  # no strips, size or compression
    # a file whose EXIF cannot be parsed gives no metadata, not an error
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00garbage!" + b"\x00" * 8)
    assert not read_metadata(broken)
