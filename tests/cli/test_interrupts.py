"""Ctrl-C and SIGTERM: a result that exists is kept, files are written whole, and imports are
never cut in half."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from photostyle.cli import main
from photostyle.engine import pipeline
from photostyle.runs.outputs import report_path

from ..conftest import transfer_args


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


def test_sigterm_writes_best_image_and_report(image_pair, shallow_vgg_file: Path,
                                              tmp_path: Path) -> None:
    content, style = image_pair
    out = tmp_path / "o.png"
    proc = subprocess.Popen(
        [sys.executable, "-m", "photostyle", "transfer", "-c", str(content), "-s", str(style),
         "-o", str(out), "--vgg-weights", str(shallow_vgg_file), "--content-layer", "relu2_1",
         "--style-layers", "relu1_1", "--segment", "none", "--size", "48", "--scales", "1",
         "--iterations", "100000", "--save-every", "1"], stderr=subprocess.PIPE, text=True)
    snaps = tmp_path / "o.png-snapshots"
    deadline = time.time() + 120
    while time.time() < deadline and not (snaps.exists() and any(snaps.iterdir())):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert json.loads(report_path(out).read_text())["status"] == "interrupted"


def test_ablate_interrupted_by_sigint_resumes(image_pair, shallow_vgg_file: Path,
                                              tmp_path: Path) -> None:
    content, style = image_pair
    out = tmp_path / "abl"
    cmd = [sys.executable, "-m", "photostyle", "-q", "ablate", "-c", str(content), "-s",
           str(style), "--vary", "tv_weight=0,0.001,0.01", "--set", "size=48",
           "--set", "iterations=200", "--set", "content_layer=relu2_1",
           "--set", "style_layers=relu1_1", "--set", "segment=none",
           "--vgg-weights", str(shallow_vgg_file), "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results = out / "results.jsonl"
    deadline = time.time() + 900  # generous: shared CI machines can be very slow
    while time.time() < deadline and not (results.exists() and results.read_text().strip()):
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    assert results.exists(), "no variant finished before the deadline"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, err
    finished = len(results.read_text().splitlines())
    assert 1 <= finished < 3
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert f"{finished} already done" in again.stderr
    assert len(results.read_text().splitlines()) == 3
