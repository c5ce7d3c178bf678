"""Hardening, round two: no command overwrites an input, an interrupt never discards a
finished run, no silent wrong result, and no traceback anywhere (issue 23's classes)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from photostyle.cli import main
from photostyle.engine import pipeline
from photostyle.engine.masks import parse_mask_array
from photostyle.engine.transforms import Look
from photostyle.errors import ConfigError, InputError, OutputError
from photostyle.files.paths import Folder, check_input_file, check_writes
from photostyle.runs.ablate import _format, aggregate, parse_vary, variant_names
from photostyle.runs.outputs import report_path

from .conftest import gradient_image, random_vgg_state, save_png

FAST = ["--content-layer", "relu2_1", "--style-layers", "relu1_1,relu2_1", "--segment", "none",
        "--size", "32", "--iterations", "2", "-q"]


def one_error_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


def digests(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (links not followed) with a digest of its bytes."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_symlink() or not p.is_file():
            out[str(p.relative_to(folder))] = "-"
        else:
            out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def transfer_args(content: Path, style: Path, out: Path, weights: Path, *extra: str) -> list[str]:
    return ["transfer", "-c", str(content), "-s", str(style), "-o", str(out),
            "--vgg-weights", str(weights), *FAST, *extra]


# --- data loss: outputs over inputs ------------------------------------------------------


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
    report_named = tmp_path / "x.png.json"
    report_named.write_text("{}")
    assert main(transfer_args(content, report_named, tmp_path / "x.png", shallow_vgg_file)) == 2
    assert "report" in one_error_line(capsys)
    report_named.unlink()
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


# --- interrupts: a finished level is never thrown away -----------------------------------


def test_interrupt_while_smoothing_keeps_the_optimised_image(
        image_pair, shallow_vgg_file: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    content, style = image_pair

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "render_result", interrupted)  # the smoothed look
    out = tmp_path / "o.png"
    assert main(transfer_args(content, style, out, shallow_vgg_file)) == 130
    err = capsys.readouterr().err
    assert "nothing written" not in err and "best image so far written" in err
    with Image.open(out) as im, Image.open(content) as c:
        assert im.size == c.size
    report = json.loads(report_path(out).read_text())
    assert report["status"] == "interrupted" and "smoothing" in report["message"]


def test_interrupt_while_writing_finishes_the_files(
        image_pair, shallow_vgg_file: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    content, style = image_pair
    from photostyle.files import writers as io

    real = io.save_json

    def save_json_interrupted(data, path):
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the report is written
        os.kill(os.getpid(), signal.SIGTERM)  # and a scheduler's SIGTERM on top
        return real(data, path)

    monkeypatch.setattr(io, "save_json", save_json_interrupted)
    out = tmp_path / "o.png"
    before = signal.getsignal(signal.SIGINT)
    assert main(transfer_args(content, style, out, shallow_vgg_file)) == 130
    err = capsys.readouterr().err
    assert "nothing written" not in err and "finished result written" in err
    assert json.loads(report_path(out).read_text())["status"] == "completed"
    with Image.open(out) as im:
        im.load()
    assert signal.getsignal(signal.SIGINT) is before  # restored


def test_ablate_interrupted_while_writing_a_variant_keeps_it(
        image_pair, shallow_vgg_file: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    content, style = image_pair
    from photostyle.runs import ablate

    real = ablate.save_json

    def save_json_interrupted(data, path):
        os.kill(os.getpid(), signal.SIGINT)
        return real(data, path)

    monkeypatch.setattr(ablate, "save_json", save_json_interrupted)
    out = tmp_path / "abl"
    code = main(["ablate", "-c", str(content), "-s", str(style), "--vgg-weights",
                 str(shallow_vgg_file), "--out", str(out), "--vary", "tv_weight=0,0.01",
                 "--set", "size=32", "--set", "iterations=1", "--set", "content_layer=relu2_1",
                 "--set", "style_layers=relu1_1", "--set", "segment=none", "-q"])
    assert code == 130
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["variant"] for r in rows] == ["tv_weight=0"]  # written whole and counted
    assert (out / "content" / "tv_weight=0.png").exists()
    assert (out / "content" / "tv_weight=0.json").exists()
    assert (out / "metrics.csv").exists()


def test_interrupt_after_a_level_keeps_it(image_pair, shallow_vgg_file: Path,
                                          monkeypatch) -> None:
    content, style = image_pair
    real = pipeline._prepare_level
    calls = []

    def prepare(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # Ctrl-C while the second level is being set up
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "_prepare_level", prepare)
    result = pipeline.transfer(content, style, size=40, scales=2, iterations=2,
                               content_layer="relu2_1", style_layers="relu1_1",
                               segment="none", vgg_weights=str(shallow_vgg_file))
    assert result.status == "interrupted"
    assert result.image.shape == (40, 56, 3) and len(result.report["levels"]) == 1


def test_importing_the_command_line_is_quick() -> None:
    """A Ctrl-C in the first second lands in code that handles it: the command line's own
    import does not pull in torch (which takes seconds)."""
    code = "import sys, photostyle.cli; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.strip() == "False", done.stderr


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc")
def test_ctrl_c_while_importing_torch(image_pair, shallow_vgg_file: Path,
                                      tmp_path: Path) -> None:
    content, style = image_pair
    proc = subprocess.Popen([sys.executable, "-m", "photostyle",
                             *transfer_args(content, style, tmp_path / "o.png",
                                            shallow_vgg_file)],
                            stderr=subprocess.PIPE, text=True)
    maps = Path(f"/proc/{proc.pid}/maps")
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        try:
            if "libtorch" in maps.read_text():
                break
        except OSError:
            pass
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert "Traceback" not in err
    assert proc.returncode in (0, 130), err


# --- silent wrong results ----------------------------------------------------------------


def test_segment_outputs_that_collide(tmp_path: Path, capsys, monkeypatch) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    pa = save_png(gradient_image(20, 20), tmp_path / "a" / "photo.png")
    pb = save_png(gradient_image(20, 20, 1), tmp_path / "b" / "photo.png")
    monkeypatch.chdir(tmp_path)
    before = digests(tmp_path)
    assert main(["segment", "--content", str(pa), "--style", str(pb)]) == 2
    line = one_error_line(capsys)
    assert "photo-mask.png" in line and "same file" in line
    assert main(["segment", "--content", str(pa), "--style", str(pb), "--content-out",
                 "m.png", "--style-out", "./m.png"]) == 2
    assert "same file" in one_error_line(capsys)
    assert digests(tmp_path) == before


def test_variant_names_never_collide() -> None:
    assert _format(0.001) == "0.001" and _format(1e-05) == "1e-05"
    assert _format(0.0010001) != _format(0.001)
    assert _format(1234567.0) != _format(1234568.0)
    # equal values spelled differently run once
    assert parse_vary(["tv_weight=0.001,1e-3,0.0010"]) == {"tv_weight": [0.001]}
    assert parse_vary(["size=64,64.0,128"]) == {"size": [64, 128]}
    with pytest.raises(ConfigError, match="given twice"):
        parse_vary(["size=64", "size=128"])
    # names that differ only in characters a file name cannot hold
    with pytest.raises(ConfigError, match="share the file name"):
        variant_names([{"seg_model": "a b"}, {"seg_model": "a/b"}])
    names = variant_names([{"tv_weight": 0.001}, {"tv_weight": 0.0010001}])
    assert len(set(names)) == 2


def test_aggregate_counts_a_pair_once() -> None:
    row = {"variant": "a", "pair": "in1", "style_sw": 1.0, "style_frechet": 1.0,
           "style_closed": 0.5, "structure_ssim": 0.9, "affine_residual": 0.1, "seconds": 2}
    (table,) = aggregate([row, {**row, "style_sw": 3.0}, {**row, "pair": "in2"}])
    assert table["pairs"] == 2
    assert table["style_sw_mean"] == pytest.approx(2.0)  # 3 (latest for in1) and 1 (in2)


def test_evaluate_refuses_another_aspect_and_says_when_it_resizes(image_pair, tmp_path: Path,
                                                                  capsys) -> None:
    content, style = image_pair  # content 56x40
    other = save_png(gradient_image(56, 40), tmp_path / "portrait.png")
    assert main(["evaluate", "-c", str(content), "-s", str(style), "-o", str(other)]) == 2
    line = one_error_line(capsys)
    assert "portrait.png" in line and "56x40" in line and "another image" in line
    half = save_png(gradient_image(20, 28), tmp_path / "half.png")
    js = tmp_path / "m.json"
    assert main(["evaluate", "-c", str(content), "-s", str(style), "-o", str(half),
                 "--json", str(js)]) == 0
    out = capsys.readouterr().out
    assert "28x20" in out and "resized" in out
    assert "resized" in json.loads(js.read_text())["note"]


def test_a_photo_is_not_a_mask(image_pair, shallow_vgg_file: Path, tmp_path: Path,
                               capsys) -> None:
    content, style = image_pair
    before = digests(tmp_path)
    out = tmp_path / "o.png"
    assert main(transfer_args(content, style, out, shallow_vgg_file, "--content-mask",
                              str(content), "--style-mask", str(style))) == 2
    line = one_error_line(capsys)
    assert "content.png" in line and "photo rather than a mask" in line
    assert digests(tmp_path) == before
    # a real mask, anti-aliased and saved as JPEG, still reads
    mask = np.zeros((40, 56, 3), np.uint8)
    mask[:, 28:] = (0, 0, 255)
    mask[:, 27] = (0, 0, 128)
    buf = tmp_path / "mask.jpg"
    Image.fromarray(mask).save(buf, quality=80)
    with Image.open(buf) as im:
        labels = parse_mask_array(np.asarray(im), source="mask.jpg")
    assert sorted(labels.names) == ["black", "blue"]


def test_outputs_differing_in_extension_keep_a_report_each(image_pair, shallow_vgg_file: Path,
                                                           tmp_path: Path) -> None:
    content, style = image_pair
    for ext in ("png", "jpg"):
        assert main(transfer_args(content, style, tmp_path / f"o.{ext}", shallow_vgg_file)) == 0
    reports = {ext: json.loads((tmp_path / f"o.{ext}.json").read_text()) for ext in ("png", "jpg")}
    assert reports["png"]["output"].endswith("o.png")
    assert reports["jpg"]["output"].endswith("o.jpg")


# --- tracebacks and hangs ----------------------------------------------------------------


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
        args += FAST if args[0] == "transfer" else []
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


def test_check_writes_by_hand(tmp_path: Path) -> None:
    inp = tmp_path / "in.png"
    inp.write_bytes(b"x")
    assert check_writes([("output", tmp_path / "new" / "o.png")], [("content", inp)]) == [
        tmp_path / "new" / "o.png"]
    assert not (tmp_path / "new").exists()
    with pytest.raises(OutputError, match="same file"):
        check_writes([("a", tmp_path / "o.png"), ("b", tmp_path / "." / "o.png")], [])
    with pytest.raises(OutputError, match="is a folder"):
        check_writes([("output", tmp_path)], [])
    (tmp_path / "snaps").mkdir()
    (tmp_path / "snaps" / "level0-00001.png").write_bytes(b"x")
    with pytest.raises(OutputError, match="lies in the snapshot folder"):
        check_writes([], [("content", tmp_path / "snaps" / "level0-00001.png")],
                     [Folder("snapshot folder", tmp_path / "snaps", "level*-*.png")])
    check_writes([], [("content", tmp_path / "snaps" / "level0-00001.png")],
                 [Folder("snapshot folder", tmp_path / "snaps", "other*.png")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png", "snaps"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lr", "1e300"], "lr: must be at most"),
        (["--precondition-boost", "1e30"], "precondition_boost: must be at most"),
        (["--style-weight", "1e39"], "style_weight: must be at most"),
        (["--output-size", "60000"], "at most 32767 px a side"),
        (["--max-pixels", "1"], "limit of 1 pixel"),
    ],
)
def test_numbers_out_of_range(image_pair, shallow_vgg_file: Path, tmp_path: Path, capsys,
                              args: list[str], message: str) -> None:
    content, style = image_pair
    assert main(transfer_args(content, style, tmp_path / "o.png", shallow_vgg_file,
                              *args)) == 2
    assert message in one_error_line(capsys)
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("value", ["nan", "inf", "-0.1", "0.5", "7"])
def test_segment_min_fragment_is_validated(image_pair, tmp_path: Path, capsys,
                                           value: str) -> None:
    content, _ = image_pair
    assert main(["segment", str(content), "-o", str(tmp_path / "m.png"),
                 "--min-fragment", value]) == 2
    assert "--min-fragment" in one_error_line(capsys)


def test_broken_pipe_is_quiet_and_the_work_is_done(image_pair, tmp_path: Path) -> None:
    content, style = image_pair
    js = tmp_path / "m.json"
    cmd = (f"{sys.executable} -m photostyle evaluate -c {content} -s {style} -o {content} "
           f"--json {js} | head -1")
    done = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True,
                          text=True, timeout=120)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert done.returncode == 0
    assert len(done.stdout.splitlines()) == 1
    assert json.loads(js.read_text())["structure_ssim"] == pytest.approx(1.0)


def test_messages_say_what_is_wrong(image_pair, tmp_path: Path, capsys) -> None:
    content, style = image_pair
    assert main(transfer_args(content, style, tmp_path / "o.png", content)) == 2
    line = one_error_line(capsys)
    assert "not a PyTorch weights file" in line and "PNG image" in line
    assert "unsafe" not in line
    weights = tmp_path / "w.pth"
    torch.save(random_vgg_state("relu2_1"), weights)
    assert main(transfer_args(content, style, tmp_path / "o.png", weights, "--init", "noise",
                              "--content-weight", "3e38", "--style-weight", "3e38")) == 2
    line = one_error_line(capsys)
    assert "--content-weight and --style-weight together" in line


# --- the fuzz test: every command, its paths and its numbers -----------------------------

#: Path kinds for an output argument; True when photostyle must refuse them.
OUT_PATHS = {
    "fresh": False, "deep": False, "existing": False, "content": True, "link_to_style": True,
    "hardlink_to_content": True, "folder": True, "in_a_file": True, "too_long": True,
    "bad_ext": True, "proc": True, "device": True,
}
#: Path kinds for an input argument.
IN_PATHS = {"good": False, "missing": True, "folder": True, "device": True, "text": True}
#: Numbers for each option: good ones, then bad ones.
NUMBERS = {
    "--size": (["32", "40"], ["0", "-5", "1e9", "nan", "x", "99999999999999999999"]),
    "--lr": (["0.5", "1"], ["nan", "inf", "-1", "0", "1e300", "1e7"]),
    "--precondition-boost": (["1.5", "2"], ["nan", "0", "1e30", "-inf"]),
    "--output-size": (["40", "64"], ["0", "70000", "40000", "-3"]),
    "--style-weight": (["10", "100"], ["nan", "-1", "1e39", "inf"]),
    "--max-pixels": (["1000000"], ["0", "-1", "1", "1e3"]),
    "--min-label-fraction": (["0.01"], ["nan", "0.9", "-0.1"]),
    "--mask-tolerance": (["40"], ["-1", "300", "x"]),
    "--min-fragment": (["0.01"], ["nan", "0.9", "-1", "inf"]),
    "--strength": (["0", "0.5"], ["nan", "1.5", "-0.1", "x"]),
    "--jpeg-quality": (["80"], ["0", "101", "x"]),
    "--fps": (["12"], ["-3", "0", "nan", "inf", "x"]),
    "--drift": (["0.3"], ["0", "1.5", "nan"]),
}
COMMAND_NUMBERS = {
    "transfer": ["--size", "--lr", "--precondition-boost", "--output-size", "--style-weight",
                 "--max-pixels"],
    "evaluate": ["--size", "--max-pixels"],
    "masks": ["--min-label-fraction", "--mask-tolerance", "--max-pixels"],
    "segment": ["--min-fragment", "--max-pixels"],
    "ablate": ["--size", "--lr"],
    "apply": ["--strength", "--output-size", "--max-pixels", "--jpeg-quality"],
    "video": ["--fps", "--drift", "--strength", "--max-pixels"],
    # a batch of the folder into itself, run twice: the second run resumes
    "batch": ["--size", "--jpeg-quality", "--max-pixels"],
}
#: Commands whose input argument is only ever good (a batch's bad photo is a failed row,
#: exit 3, not a refused command).
GOOD_INPUT_ONLY = {"batch"}


def _make_out(kind: str, root: Path, content: Path, style: Path, ext: str) -> Path:
    if kind == "fresh":
        return root / f"result{ext}"
    if kind == "deep":
        return root / "a" / "b" / f"result{ext}"
    if kind == "existing":
        path = root / f"old{ext}"
        path.write_bytes(b"old")
        return path
    if kind == "content":
        return content
    if kind == "link_to_style":
        link = root / f"link{ext}"
        link.symlink_to(style)
        return link
    if kind == "hardlink_to_content":
        link = root / f"hard{ext}"
        os.link(content, link)
        return link
    if kind == "folder":
        (root / f"dir{ext}").mkdir()
        return root / f"dir{ext}"
    if kind == "in_a_file":
        return root / "c.png" / f"x{ext}"
    if kind == "too_long":
        return root / ("n" * 260 + ext)
    if kind == "bad_ext":
        return root / "result.xyz"
    if kind == "proc":
        return Path("/proc") / f"photostyle-fuzz{ext}"
    return Path("/dev/null")


def _make_in(kind: str, root: Path, good: Path) -> Path:
    if kind == "good":
        return good
    if kind == "missing":
        return root / "missing.png"
    if kind == "folder":
        return root
    if kind == "device":
        return Path("/dev/null")
    path = root / "notes.png"
    path.write_text("not an image")
    return path


@pytest.fixture(scope="session")
def fuzz_clip(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """A three-frame clip (copied into each example's folder); ``None`` without PyAV."""
    try:
        import av
    except ImportError:
        return None
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(3):
            rgb = (gradient_image(48, 64, i) * 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


@st.composite
def command_lines(draw):
    """A command with good paths and numbers, or with exactly one bad one (half of each)."""
    command = draw(st.sampled_from(sorted(COMMAND_NUMBERS)))
    options = COMMAND_NUMBERS[command]
    spoil = draw(st.sampled_from(["none", "none", "none", "out", "in", *options]))
    good_out = sorted(k for k, v in OUT_PATHS.items() if not v)
    bad_out = sorted(k for k, v in OUT_PATHS.items() if v)
    out_kind = draw(st.sampled_from(bad_out if spoil == "out" else good_out))
    if command in GOOD_INPUT_ONLY:
        out_kind = "fresh"  # a batch writes into its own folder (an old file there is a photo)
    if command in GOOD_INPUT_ONLY and spoil in ("in", "out"):
        spoil = "none"
    in_kind = draw(st.sampled_from(
        sorted(k for k, v in IN_PATHS.items() if v) if spoil == "in" else ["good"]))
    numbers = {}
    for option in options:
        good, bad = NUMBERS[option]
        if option == spoil:
            numbers[option] = draw(st.sampled_from(bad)), True
        elif draw(st.booleans()):
            numbers[option] = draw(st.sampled_from(good)), False
    return command, out_kind, in_kind, numbers


def _args(command: str, out: Path, inp: Path, root: Path, numbers: dict[str, tuple[str, bool]],
          weights: Path) -> list[str]:
    content, style, style_mask = root / "c.png", root / "s.png", root / "ms.png"
    values = [x for option, (value, _) in numbers.items() for x in (option, value)]
    if command == "transfer":
        return ["transfer", "-c", str(inp), "-s", str(style), "-o", str(out), "--vgg-weights",
                str(weights), "--content-layer", "relu2_1", "--style-layers", "relu1_1",
                "--segment", "none", "--iterations", "1", "--size", "32", *values, "-q"]
    if command == "evaluate":
        return ["evaluate", "-c", str(content), "-s", str(style), "-o", str(inp), "--json",
                str(out), *values]
    if command == "masks":
        return ["masks", "--content-mask", str(inp), "--style-mask", str(style_mask),
                "--content", str(content), "--style", str(style), "-o", str(out), *values]
    if command == "segment":
        return ["segment", str(inp), "-o", str(out), *values]
    if command == "apply":
        return ["apply", "-c", str(inp), "-t", str(root / "look.npz"), "-o", str(out), *values,
                "-q"]
    if command == "video":
        clip = root / "clip.mp4" if inp == root / "c.png" else inp
        return ["video", "-c", str(clip), "-s", str(style), "-o", str(out), "--vgg-weights",
                str(weights), "--segment", "none", "--size", "32", "--set",
                "content_layer=relu2_1", "--set", "style_layers=relu1_1", "--set",
                "iterations=1+1", "--no-measure", *values, "-q"]
    if command == "batch":
        return ["transfer", "-c", str(root), "-s", str(style), "--out-dir", str(root),
                "--vgg-weights", str(weights), "--content-layer", "relu2_1", "--style-layers",
                "relu1_1", "--segment", "none", "--iterations", "1", "--size", "32", *values,
                "-q"]
    sets = [x for option, (value, _) in numbers.items()
            for x in ("--set", f"{option[2:]}={value}")]
    return ["ablate", "-c", str(inp), "-s", str(style), "--out", str(out.with_suffix("")),
            "--vgg-weights", str(weights), "--set", "content_layer=relu2_1", "--set",
            "style_layers=relu1_1", "--set", "segment=none", "--set", "iterations=1",
            "--set", "size=32", *sets, "-q"]


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(command_lines())
@example(("apply", "link_to_style", "good", {}))  # found by CI: replaces the link, not s.png
@example(("apply", "content", "good", {}))
@example(("video", "fresh", "folder", {}))  # frames of different sizes: fails mid-clip
@example(("video", "link_to_style", "good", {}))
@example(("video", "device", "good", {}))
@example(("batch", "fresh", "good", {}))
def test_fuzzed_commands_never_lose_a_file(shallow_vgg_file: Path, fuzz_clip: Path | None, capsys,
                                           case) -> None:
    command, out_kind, in_kind, numbers = case
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        content = save_png(gradient_image(40, 56), root / "c.png")
        style = save_png(gradient_image(40, 40, 1), root / "s.png")
        mask = np.zeros((40, 56, 3), np.uint8)
        mask[20:] = (0, 0, 255)
        save_png(mask, root / "m.png")
        save_png(mask[:, :40], root / "ms.png")
        rng = np.random.default_rng(0)
        Look(np.eye(3, dtype=np.float32) + rng.normal(0, 0.1, (20, 28, 3, 3)).astype(np.float32),
             rng.normal(0, 0.05, (20, 28, 3)).astype(np.float32), {}).save(root / "look.npz")
        if command == "video":
            if fuzz_clip is None:
                return  # the video extra is not installed
            (root / "clip.mp4").write_bytes(fuzz_clip.read_bytes())
        good_in = root / "m.png" if command == "masks" else content
        inp = _make_in(in_kind, root, good_in)
        out = _make_out(out_kind, root, content, style, ".mp4" if command == "video" else ".png")
        args = _args(command, out, inp, root, numbers, shallow_vgg_file)
        if command == "ablate":  # --out is a folder named after out without its extension
            out_bad = out_kind in ("in_a_file", "too_long", "proc", "device")
        elif command == "batch":  # into its own folder, whatever out is
            out_bad = False
        elif command == "evaluate":
            out_bad = OUT_PATHS[out_kind] and out_kind != "bad_ext"  # --json: any name
        elif command == "apply":  # reads no style: a link to it is just a name to replace
            out_bad = OUT_PATHS[out_kind] and out_kind != "link_to_style"
        else:
            out_bad = OUT_PATHS[out_kind]
        bad = out_bad or IN_PATHS[in_kind] or any(b for _, b in numbers.values())
        inputs_before = digests(root)
        files_before = set(inputs_before)
        capsys.readouterr()
        try:
            code = main(args)
        except SystemExit as exc:  # argparse: a value of the wrong type
            code = exc.code
        err = capsys.readouterr().err
        assert "Traceback" not in err and "internal error" not in err, (args, err)
        for name, digest in inputs_before.items():
            if name.startswith(("old", "a/")) or (command == "apply" and name == "link.png"):
                continue  # an existing output is meant to be replaced
            assert digests(root).get(name) == digest, (args, name)
        if bad or command == "segment":  # segment: no model offline
            assert code == 2, (args, err)
            assert set(digests(root)) == files_before, (args, err)
        else:
            assert code == 0, (args, err)
        if command == "batch" and code == 0:  # again: it resumes, writing and deleting nothing
            done = digests(root)
            assert main(args) == 0, (args, capsys.readouterr().err)
            assert digests(root) == done, args
        leftovers = [p for p in root.rglob("*") if p.name.endswith(".tmp") or ".partial" in
                     p.name]
        assert not leftovers, args
