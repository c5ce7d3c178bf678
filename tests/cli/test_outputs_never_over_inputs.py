"""No command writes over what it reads, through links too, and every output place is checked
before any work."""

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
from photostyle.errors import InputError
from photostyle.files.paths import check_input_file
from photostyle.runs.outputs import report_path

from ..conftest import CLI_FAST, digests, gradient_image, one_error_line, save_png, transfer_args


def test_evaluate_json_over_an_input_is_refused(image_pair, tmp_path: Path, capsys) -> None:
    content, style = image_pair
    before = digests(tmp_path)
    for target in (content, style):
        code = main(["evaluate", "-c", str(content), "-s", str(style), "-o", str(content),
                     "--json", str(target)])
        assert code == 2
        assert "is an input file" in one_error_line(capsys)
    assert digests(tmp_path) == before


def test_links_to_inputs_are_inputs(image_pair, shallow_vgg_file: Path, tmp_path: Path,
                                    capsys) -> None:
    content, style = image_pair
    soft = tmp_path / "soft.png"
    soft.symlink_to(content)
    hard = tmp_path / "hard.png"
    os.link(style, hard)
    before = digests(tmp_path)
    for out in (soft, hard):
        assert main(transfer_args(content, style, out, shallow_vgg_file)) == 2
        assert "is an input file" in one_error_line(capsys)
    # a report that would land on an input is refused too: out.png's report is out.png.json
    report_named = tmp_path / "photostyle-sidecars" / "x.png.json"
    report_named.parent.mkdir()
    report_named.write_text("{}")
    assert main(transfer_args(content, report_named, tmp_path / "x.png", shallow_vgg_file)) == 2
    assert "report" in one_error_line(capsys)
    report_named.unlink()
    report_named.parent.rmdir()
    assert digests(tmp_path) == before


def test_ablate_never_writes_over_its_pairs(shallow_vgg_file: Path, tmp_path: Path,
                                            capsys) -> None:
    out = tmp_path / "abl"
    (out / "default").mkdir(parents=True)
    content = save_png(gradient_image(40, 56), out / "default" / "default.png")
    style = save_png(gradient_image(40, 40, 1), tmp_path / "s.png")
    before = digests(tmp_path)
    args = ["ablate", "-c", str(content), "-s", str(style), "--vgg-weights",
            str(shallow_vgg_file), "--out", str(out), "--set", "size=32",
            "--set", "iterations=1", "--set", "content_layer=relu2_1",
            "--set", "style_layers=relu1_1", "--set", "segment=none", "-q"]
    assert main(args) == 2  # its variant image would be abl/default/default.png
    assert "variant image" in one_error_line(capsys)
    # the contact sheet of pair "c" is abl/sheet_c.png
    sheet = save_png(gradient_image(40, 40, 1), out / "sheet_c.png")
    c = save_png(gradient_image(40, 56), tmp_path / "c.png")
    before = digests(tmp_path)
    args[2], args[4] = str(c), str(sheet)
    assert main(args) == 2
    assert "contact sheet" in one_error_line(capsys)
    assert digests(tmp_path) == before


def test_masks_and_segment_outputs_over_inputs(image_pair, tmp_path: Path, capsys) -> None:
    content, _ = image_pair
    mask = np.zeros((40, 56, 3), np.uint8)
    mask[:20] = (0, 0, 255)
    cm = save_png(mask, tmp_path / "cm.png")
    before = digests(tmp_path)
    assert main(["masks", "--content-mask", str(cm), "--style-mask", str(cm),
                 "-o", str(cm)]) == 2
    assert "is an input file" in one_error_line(capsys)
    assert main(["segment", str(content), "-o", str(content)]) == 2
    assert "is an input file" in one_error_line(capsys)
    assert digests(tmp_path) == before


def test_segment_outputs_that_collide(tmp_path: Path, capsys, monkeypatch) -> None:
    (tmp_path / "a").mkdir()
    pa = save_png(gradient_image(20, 20), tmp_path / "a" / "photo.png")
    # the same name in the same folder: both masks would be a/photo-mask.png
    pb = tmp_path / "a" / "photo.jpg"
    Image.fromarray((gradient_image(20, 20, 1) * 255).astype(np.uint8)).save(pb)
    monkeypatch.chdir(tmp_path)
    before = digests(tmp_path)
    assert main(["segment", "--content", str(pa), "--style", str(pb)]) == 2
    line = one_error_line(capsys)
    assert "photo-mask.png" in line and "same file" in line
    assert main(["segment", "--content", str(pa), "--style", str(pb), "--content-out",
                 "m.png", "--style-out", "./m.png"]) == 2
    assert "same file" in one_error_line(capsys)
    assert digests(tmp_path) == before


def test_outputs_differing_in_extension_keep_a_report_each(image_pair, shallow_vgg_file: Path,
                                                           tmp_path: Path) -> None:
    content, style = image_pair
    for ext in ("png", "jpg"):
        assert main(transfer_args(content, style, tmp_path / f"o.{ext}", shallow_vgg_file)) == 0
    reports = {ext: json.loads(report_path(tmp_path / f"o.{ext}").read_text())
               for ext in ("png", "jpg")}
    assert reports["png"]["output"].endswith("o.png")
    assert reports["jpg"]["output"].endswith("o.jpg")


def test_special_files_are_refused_without_hanging(image_pair, shallow_vgg_file: Path,
                                                   tmp_path: Path) -> None:
    content, style = image_pair
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    cases = [
        ["transfer", "-c", str(fifo), "-s", str(style)],
        ["transfer", "-c", str(content), "-s", "/dev/zero"],
        ["transfer", "-c", str(content), "-s", str(style), "--content-mask", str(fifo),
         "--style-mask", str(fifo)],
        ["transfer", "-c", str(content), "-s", str(style), "--vgg-weights", str(fifo)],
        ["evaluate", "-c", str(content), "-s", str(style), "-o", str(fifo)],
    ]
    for args in cases:
        if "--vgg-weights" not in args:
            args += ["--vgg-weights", str(shallow_vgg_file)] if args[0] == "transfer" else []
        args += CLI_FAST if args[0] == "transfer" else []
        if args[0] == "transfer":
            args += ["-o", str(tmp_path / "o.png")]
        done = subprocess.run([sys.executable, "-m", "photostyle", *args], capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 2, (args, done.stderr)
        assert "Traceback" not in done.stderr
        assert "named pipe" in done.stderr or "a device" in done.stderr, done.stderr
    assert not (tmp_path / "o.png").exists()
    with pytest.raises(InputError, match="named pipe"):
        check_input_file(fifo, "mask")


def test_output_locations_are_checked_before_any_work(image_pair, shallow_vgg_file: Path,
                                                      tmp_path: Path, capsys) -> None:
    content, style = image_pair
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    snapshots_as_file = tmp_path / "snap.png-snapshots"
    snapshots_as_file.write_text("x")
    cases = [
        (tmp_path / ("n" * 300 + ".png"), (), "too long"),
        (a_file / "out.png", (), "is a file, not a folder"),
        (tmp_path / "snap.png", ("--save-every", "1"), "snapshot folder"),
    ]
    if Path("/proc/self").is_dir():
        cases.append((Path("/proc/photostyle-out.png"), (), "cannot write"))
    before = digests(tmp_path)
    for out, extra, message in cases:
        start = time.perf_counter()
        assert main(transfer_args(content, style, out, shallow_vgg_file, *extra)) == 2
        assert message in one_error_line(capsys)
        assert time.perf_counter() - start < 30  # refused up front, not after a run
    assert main(["ablate", "-c", str(content), "-s", str(style), "--out", str(a_file),
                 "--vgg-weights", str(shallow_vgg_file)]) == 2
    assert "is a file" in one_error_line(capsys)
    assert main(["evaluate", "-c", str(content), "-s", str(style), "-o", str(content),
                 "--json", str(a_file / "m.json")]) == 2
    assert "is a file, not a folder" in one_error_line(capsys)
    assert digests(tmp_path) == before


def test_existing_output_is_overwritten_and_help_says_so(image_pair, shallow_vgg_file: Path,
                                                         tmp_path: Path, capsys) -> None:
    content, style = image_pair
    out = tmp_path / "out.png"
    out.write_bytes(b"old")
    assert main(transfer_args(content, style, out, shallow_vgg_file)) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(SystemExit):
        main(["transfer", "--help"])
    assert "overwritten" in capsys.readouterr().out
