"""Bad inputs, interruptions and untrusted files: a clear message, nothing lost."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from photostyle.cli import main
from photostyle.engine.config import TransferConfig
from photostyle.engine.masks import parse_mask_array
from photostyle.errors import ConfigError, InputError
from photostyle.runs.outputs import report_path

from ..conftest import bomb_png as _bomb_png
from ..conftest import (
    digests,
    gradient_image,
    one_error_line,
    random_vgg_state,
    save_png,
    transfer_args,
)

LAYERS = ["--content-layer", "relu2_1", "--style-layers", "relu1_1,relu2_1", "--segment", "none",
          "--size", "48", "--iterations", "2", "-q"]


def transfer_cli(content: Path, style: Path, out: Path, weights: Path, *extra: str) -> int:
    return main(["transfer", "-c", str(content), "-s", str(style), "-o", str(out),
                 "--vgg-weights", str(weights), *LAYERS, *extra])


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
    assert code == 4  # its own status: a script can tell it from bad input (2)
    line = one_error_line(capsys)
    assert "--style-weight" in line and "last good image" in line
    assert out.exists()
    assert json.loads(report_path(out).read_text())["status"] == "diverged"


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


def test_messages_say_what_is_wrong(image_pair, tmp_path: Path, capsys) -> None:
    content, style = image_pair
    assert main(transfer_args(content, style, tmp_path / "o.png", content)) == 2
    line = one_error_line(capsys)
    assert "not a PyTorch weights file" in line and "PNG image" in line
    assert "unsafe" not in line
    weights = tmp_path / "w.pth"
    torch.save(random_vgg_state("relu2_1"), weights)
    assert main(transfer_args(content, style, tmp_path / "o.png", weights, "--init", "noise",
                              "--content-weight", "3e38", "--style-weight", "3e38")) == 4
    line = one_error_line(capsys)
    assert "--content-weight and --style-weight together" in line
