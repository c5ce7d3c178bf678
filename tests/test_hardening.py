"""Bad inputs, interruptions and untrusted files: a clear message, nothing lost."""

from __future__ import annotations

import json
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from photostyle.cli import main
from photostyle.engine.config import TransferConfig
from photostyle.engine.masks import parse_mask_array
from photostyle.errors import ConfigError, InputError
from photostyle.runs.outputs import report_path

from .conftest import bomb_png as _bomb_png
from .conftest import gradient_image, save_png

LAYERS = ["--content-layer", "relu2_1", "--style-layers", "relu1_1,relu2_1", "--segment", "none",
          "--size", "48", "--iterations", "2", "-q"]


def transfer_cli(content: Path, style: Path, out: Path, weights: Path, *extra: str) -> int:
    return main(["transfer", "-c", str(content), "-s", str(style), "-o", str(out),
                 "--vgg-weights", str(weights), *LAYERS, *extra])


def one_error_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


def leftovers(folder: Path, keep: set[str]) -> set[str]:
    return {p.name for p in folder.iterdir()} - keep


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("trunc.jpg", "truncated_jpeg", "cannot decode"),
        ("trunc.png", "truncated_png", "cannot decode"),
        ("text.jpg", "text", "not an image"),
        ("bomb.png", "bomb", "decompression bomb"),
        ("tiny.png", "one_pixel", "too small for layer"),
        ("long.png", "extreme_aspect", "too small for layer"),
    ],
)
def test_bad_content_images(tmp_path: Path, shallow_vgg_file: Path, capsys, name: str,
                            make: str, message: str) -> None:
    path = tmp_path / name
    if make == "truncated_jpeg":
        Image.fromarray((gradient_image(64, 64) * 255).astype(np.uint8)).save(path, quality=90)
        path.write_bytes(path.read_bytes()[:300])
    elif make == "truncated_png":
        save_png(gradient_image(64, 64), path)
        path.write_bytes(path.read_bytes()[:200])
    elif make == "text":
        path.write_text("definitely not a photo")
    elif make == "bomb":
        _bomb_png(path)
    elif make == "one_pixel":
        save_png(np.zeros((1, 1, 3), np.uint8), path)
    else:
        save_png(gradient_image(2, 400), path)
    style = save_png(gradient_image(32, 32, 1), tmp_path / "style.png")
    out = tmp_path / "out.png"
    assert transfer_cli(path, style, out, shallow_vgg_file) == 2
    line = one_error_line(capsys)
    assert message in line and (name in line or make in ("one_pixel", "extreme_aspect"))
    assert leftovers(tmp_path, {name, "style.png"}) == set()


@pytest.mark.parametrize("kind", ["cmyk_jpeg", "png16", "palette_alpha", "grayscale"])
def test_odd_image_modes_work(tmp_path: Path, shallow_vgg_file: Path, kind: str) -> None:
    rgb = (gradient_image(40, 48) * 255).astype(np.uint8)
    path = tmp_path / f"content.{'jpg' if kind == 'cmyk_jpeg' else 'png'}"
    if kind == "cmyk_jpeg":
        Image.fromarray(rgb).convert("CMYK").save(path)
    elif kind == "png16":
        Image.fromarray((gradient_image(40, 48)[..., 0] * 65535).astype(np.uint16)).save(path)
    elif kind == "palette_alpha":
        pal = Image.fromarray(rgb).convert("P")
        pal.info["transparency"] = 0
        pal.save(path, transparency=0)
    else:
        Image.fromarray(rgb[..., 0]).save(path)
    style = save_png(gradient_image(32, 32, 1), tmp_path / "style.png")
    out = tmp_path / "out.png"
    assert transfer_cli(path, style, out, shallow_vgg_file) == 0
    with Image.open(out) as im:
        assert im.mode == "RGB" and im.size == (48, 40)


def test_exif_rotated_content_keeps_visual_orientation(tmp_path: Path,
                                                       shallow_vgg_file: Path) -> None:
    arr = (gradient_image(30, 60) * 255).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6
    content = tmp_path / "rotated.jpg"
    Image.fromarray(arr).save(content, exif=exif)
    style = save_png(gradient_image(32, 32, 1), tmp_path / "style.png")
    out = tmp_path / "out.png"
    assert transfer_cli(content, style, out, shallow_vgg_file) == 0
    with Image.open(out) as im:
        assert im.size == (30, 60)  # displayed as portrait, like the camera showed it


def test_mask_of_the_wrong_image(tmp_path: Path, shallow_vgg_file: Path, capsys) -> None:
    content = save_png(gradient_image(40, 80), tmp_path / "c.png")
    style = save_png(gradient_image(80, 40, 1), tmp_path / "s.png")
    c_mask = np.zeros((40, 80, 3), np.uint8)
    c_mask[:, 40:] = (0, 0, 255)
    cm = save_png(c_mask, tmp_path / "cm.png")
    out = tmp_path / "out.png"
    # the content's mask given for the style as well (landscape mask, portrait style)
    code = transfer_cli(content, style, out, shallow_vgg_file, "--content-mask", str(cm),
                        "--style-mask", str(cm))
    assert code == 2
    line = one_error_line(capsys)
    assert "style mask" in line and "cm.png" in line and "another image" in line
    assert not out.exists()


def test_divergence_names_the_setting_and_keeps_last_good_image(
        image_pair, shallow_vgg_file: Path, tmp_path: Path, capsys) -> None:
    content, style = image_pair
    out = tmp_path / "out.png"
    code = transfer_cli(content, style, out, shallow_vgg_file, "--style-weight", "3e38",
                        "--init", "noise")
    assert code == 2
    line = one_error_line(capsys)
    assert "--style-weight" in line and "last good image" in line
    assert out.exists()
    assert json.loads(report_path(out).read_text())["status"] == "diverged"


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


def test_existing_output_is_overwritten_and_help_says_so(image_pair, shallow_vgg_file: Path,
                                                         tmp_path: Path, capsys) -> None:
    content, style = image_pair
    out = tmp_path / "out.png"
    out.write_bytes(b"old")
    assert transfer_cli(content, style, out, shallow_vgg_file) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(SystemExit):
        main(["transfer", "--help"])
    assert "overwritten" in capsys.readouterr().out


def test_malicious_weights_file_refused_in_one_line(image_pair, tmp_path: Path, capsys) -> None:
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    weights = tmp_path / "evil.pth"
    weights.write_bytes(pickle.dumps({"features.0.weight": Evil()}))
    content, style = image_pair
    assert transfer_cli(content, style, tmp_path / "o.png", weights) == 2
    line = one_error_line(capsys)
    assert "evil.pth" in line and "unsafe" in line


def test_bad_command_line_value_is_one_line(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["transfer", "-c", "a.png", "-s", "b.png", "--size", "big"])
    assert info.value.code == 2
    line = one_error_line(capsys)
    assert "--size" in line and "big" in line


FIELDS = {
    "size": st.one_of(st.integers(-10, 10_000), st.floats(allow_nan=True), st.text(max_size=3)),
    "scales": st.integers(-2, 12),
    "iterations": st.one_of(st.integers(-5, 200_000), st.text(max_size=6)),
    "lr": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 3)),
    "content_layer": st.text(max_size=8),
    "style_layers": st.text(max_size=20),
    "matting_weight": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.booleans()),
    "flat_weight": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.booleans()),
    "strength": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                          st.text(max_size=4)),
    "smooth": st.text(max_size=12),
    "optimizer": st.text(max_size=6),
    "bounds": st.one_of(st.text(max_size=8), st.integers()),
    "precondition_levels": st.one_of(st.integers(-3, 20), st.floats(allow_nan=True)),
    "precondition_boost": st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                                    st.booleans()),
    "min_label_fraction": st.floats(allow_nan=True),
    "mask_tolerance": st.integers(-300, 300),
    "output_size": st.one_of(st.none(), st.integers(-5, 100_000)),
}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(FIELDS)).flatmap(lambda k: st.tuples(st.just(k), FIELDS[k])))
def test_fuzzed_settings_give_a_one_line_error_naming_the_setting(item) -> None:
    key, value = item
    try:
        TransferConfig(**{key: value})
    except ConfigError as exc:
        text = str(exc)
        assert "\n" not in text
        assert text.split(":")[0] in (key, "scales", "iterations"), text
    # no other exception type may escape


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), st.sampled_from(["rgb", "gray", "gray16"]),
       st.integers(0, 2**32 - 1))
def test_fuzzed_masks_parse_or_fail_cleanly(h: int, w: int, kind: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    if kind == "rgb":
        arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    elif kind == "gray":
        arr = rng.integers(0, 256, (h, w), dtype=np.uint8)
    else:
        arr = rng.integers(0, 65536, (h, w), dtype=np.uint16)
    try:
        labels = parse_mask_array(arr, tolerance=int(rng.integers(0, 60)), source="m.png")
    except InputError as exc:
        assert "m.png" in str(exc) and "\n" not in str(exc)
    else:
        assert labels.ids.shape == (h, w)
        assert labels.ids.max() < len(labels.names)
