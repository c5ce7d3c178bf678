"""Image reading (modes, EXIF, limits) and atomic writing."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photostyle.errors import InputError, OutputError
from photostyle.files.images import fit_long_side, load_image, resize
from photostyle.files.paths import check_writes
from photostyle.files.writers import check_image_extension, save_image


def test_modes_convert_to_rgb_float(tmp_path: Path) -> None:
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[..., 0] = 255
    cases = {
        "gray.png": Image.fromarray(np.full((4, 6), 128, np.uint8)),
        "rgba.png": Image.fromarray(np.dstack([rgb, np.full((4, 6), 0, np.uint8)]), "RGBA"),
        "palette.png": Image.fromarray(rgb).convert("P"),
        "g16.png": Image.fromarray(np.full((4, 6), 65535 // 4, np.uint16)),
        "cmyk.jpg": Image.fromarray(rgb).convert("CMYK"),
        "rgb.webp": Image.fromarray(rgb),
        "rgb.tif": Image.fromarray(rgb),
    }
    for name, im in cases.items():
        im.save(tmp_path / name, **({"lossless": True} if name.endswith("webp") else {}))
        arr = load_image(tmp_path / name)
        assert arr.shape == (4, 6, 3) and arr.dtype == np.float32, name
        assert 0.0 <= arr.min() and arr.max() <= 1.0, name
    np.testing.assert_allclose(load_image(tmp_path / "gray.png"), 128 / 255, atol=1e-6)
    np.testing.assert_allclose(load_image(tmp_path / "rgba.png"), 1.0)  # transparent: white
    np.testing.assert_allclose(load_image(tmp_path / "g16.png"), (65535 // 4) / 65535, atol=1e-6)
    np.testing.assert_allclose(load_image(tmp_path / "cmyk.jpg")[..., 0], 1.0, atol=0.03)
    np.testing.assert_allclose(load_image(tmp_path / "rgb.tif")[..., 0], 1.0)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    arr = np.zeros((10, 20, 3), np.uint8)
    arr[:, :5] = 255  # white on the left
    im = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    im.save(tmp_path / "rot.jpg", exif=exif, quality=100)
    out = load_image(tmp_path / "rot.jpg")
    assert out.shape == (20, 10, 3)
    assert out[:5].mean() > 0.9 and out[10:].mean() < 0.1  # white now on top


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="missing.png: file not found"):
        load_image(tmp_path / "missing.png", what="content image")
    (tmp_path / "text.jpg").write_text("just text")
    with pytest.raises(InputError, match="text.jpg: not an image"):
        load_image(tmp_path / "text.jpg")
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "trunc.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="trunc.png: cannot decode"):
        load_image(tmp_path / "trunc.png")
    with pytest.raises(InputError, match="exceeds the limit"):
        load_image(tmp_path / "full.png", max_pixels=1000)


def test_array_inputs() -> None:
    arr = load_image(np.full((3, 4), 255, np.uint8))
    assert arr.shape == (3, 4, 3) and arr.max() == 1.0
    with pytest.raises(InputError, match="NaN"):
        load_image(np.full((3, 4, 3), np.nan, np.float32))
    with pytest.raises(InputError, match="shape"):
        load_image(np.zeros((3, 4, 5)))


def test_resize_and_fit() -> None:
    assert fit_long_side(437, 700, 350) == (218, 350)  # 218.5 rounds to even
    assert fit_long_side(4000, 10, 512) == (512, 1)
    img = np.random.default_rng(0).random((20, 30, 3)).astype(np.float32)
    small = resize(img, (10, 15))
    assert small.shape == (10, 15, 3) and small.dtype == np.float32
    np.testing.assert_allclose(small.mean(), img.mean(), atol=1e-3)
    big = resize(img, (40, 60))
    assert big.min() >= img.min() and big.max() <= img.max()


def test_atomic_save_leaves_nothing_on_failure(tmp_path: Path, monkeypatch) -> None:
    img = np.random.default_rng(0).random((8, 8, 3)).astype(np.float32)
    out = tmp_path / "out.png"
    save_image(img, out)
    before = out.read_bytes()

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", fail)
    with pytest.raises(OutputError, match="disk full"):
        save_image(np.zeros((8, 8, 3), np.float32), out)
    assert out.read_bytes() == before  # the old file is intact
    assert sorted(os.listdir(tmp_path)) == ["out.png"]  # no temporary left


def check_output_path(path: Path, inputs: list[Path]) -> Path:
    """What a command does with its one image output before any work."""
    p = check_image_extension(path)
    check_writes([("output", p)], [("input", i) for i in inputs])
    return p


def test_output_path_checks(tmp_path: Path) -> None:
    inp = tmp_path / "in.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(inp)
    with pytest.raises(OutputError, match="is an input file"):
        check_output_path(inp, [inp])
    with pytest.raises(OutputError, match="unknown image extension"):
        check_output_path(tmp_path / "out.xyz", [inp])
    planned = check_output_path(tmp_path / "new" / "dir" / "out.png", [inp])
    assert not planned.parent.exists()  # checked, but nothing is created before the work
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if not os.access(locked, os.W_OK):
            with pytest.raises(OutputError, match="permission denied"):
                check_output_path(locked / "out.png", [inp])
    finally:
        locked.chmod(0o700)


def test_written_files_get_ordinary_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        out = save_image(np.full((4, 5, 3), 0.5), tmp_path / "o.png")
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
