"""Batches over many photos, and the look exported as a 3D LUT (checked against ffmpeg)."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photostyle.cli import main
from photostyle.engine import network as features
from photostyle.engine.pipeline import TransferResult
from photostyle.errors import InputError
from photostyle.runs import lut
from photostyle.runs.outputs import report_path

from ..conftest import gradient_image, save_png

FAST = ["--content-layer", "relu2_1", "--style-layers", "relu1_1,relu2_1", "--size", "32",
        "--iterations", "3", "--segment", "none", "-q"]


def shoot(tmp_path: Path) -> Path:
    """A folder as a photographer leaves it: photos, a mask, notes, a broken file."""
    folder = tmp_path / "shoot"
    folder.mkdir()
    save_png(gradient_image(40, 56, 0), folder / "a.png")
    Image.fromarray((gradient_image(36, 50, 1) * 255).astype(np.uint8)).save(
        folder / "b.jpg", quality=95)
    mask = np.zeros((36, 50, 3), np.uint8)
    mask[:18] = (0, 0, 255)  # blue top, green bottom (the paper's colour code)
    mask[18:] = (0, 255, 0)
    Image.fromarray(mask).save(folder / "b-mask.png")
    (folder / "notes.txt").write_text("client wants warmer skies")
    (folder / "c.jpg").write_text("not really a JPEG")
    return folder


def style_with_mask(tmp_path: Path) -> tuple[Path, Path]:
    style = save_png(gradient_image(48, 40, 1)[..., ::-1].copy(), tmp_path / "style.png")
    mask = np.zeros((48, 40, 3), np.uint8)
    mask[:24] = (0, 0, 255)
    mask[24:] = (0, 255, 0)
    return style, save_png(mask, tmp_path / "style-mask.png")


def test_batch_writes_each_photo_skips_failures_and_resumes(
        tmp_path: Path, shallow_vgg_file: Path, monkeypatch, capsys) -> None:
    folder = shoot(tmp_path)
    style, style_mask = style_with_mask(tmp_path)
    out = tmp_path / "styled"
    loads = []
    real = features.load_extractor
    monkeypatch.setattr(features, "load_extractor",
                        lambda *a, **k: loads.append(1) or real(*a, **k))
    args = ["transfer", "-c", str(folder), "-s", str(style), "--style-mask", str(style_mask),
            "--out-dir", str(out), "--vgg-weights", str(shallow_vgg_file), *FAST]
    assert main(args) == 3  # some failed
    table = capsys.readouterr().out
    assert len(loads) == 1  # the network, once for the batch
    assert (out / "a-styled.png").exists() and (out / "b-styled.jpg").exists()
    assert not (out / "c-styled.jpg").exists()
    row_c = next(line for line in table.splitlines() if line.startswith("c.jpg"))
    assert "failed" in row_c and "c.jpg" in row_c
    assert "2 done, 1 failed" in table and "notes.txt" in table and "b-mask.png" in table
    report_b = json.loads(report_path(out / "b-styled.jpg").read_text())
    assert report_b["masks"]["labels"].keys() == {"blue", "green"}  # its mask was used
    report_a = json.loads(report_path(out / "a-styled.png").read_text())
    assert list(report_a["masks"]["labels"]) == ["all"]  # none: --segment none
    # again: what is done is skipped, and only the broken photo fails again
    stamp = (out / "a-styled.png").stat().st_mtime_ns
    assert main(args) == 3
    table = capsys.readouterr().out
    assert "2 skipped, 1 failed" in table and len(loads) == 2  # once per batch
    assert (out / "a-styled.png").stat().st_mtime_ns == stamp
    # other settings: done again
    (folder / "c.jpg").unlink()
    assert main([*args, "--strength", "0.5"]) == 0
    assert "2 done" in capsys.readouterr().out


def test_batch_problems_are_refused_before_any_work(tmp_path: Path, shallow_vgg_file: Path,
                                                    capsys) -> None:
    folder = shoot(tmp_path)
    style, style_mask = style_with_mask(tmp_path)
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the output folder should be")
    base = ["transfer", "-c", str(folder), "-s", str(style), "--style-mask", str(style_mask),
            "--vgg-weights", str(shallow_vgg_file), *FAST]
    assert main([*base, "--out-dir", str(blocked)]) == 2
    assert "blocked" in capsys.readouterr().err
    # two contents that would write the same output
    save_png(gradient_image(20, 20), folder / "a.jpg.png")
    shutil.copy(folder / "a.png", tmp_path / "a.tif")
    assert main(["transfer", "-c", str(folder / "a.png"), str(tmp_path / "a.tif"), "-s",
                 str(style), "--out-dir", str(tmp_path / "o"), "--format", "png",
                 "--vgg-weights", str(shallow_vgg_file), *FAST]) == 2
    assert "would both be written" in capsys.readouterr().err
    assert main([*base, "--out-dir", str(tmp_path / "o"), "-o", "x.png"]) == 2
    assert main([*base, "--out-dir", str(tmp_path / "o"), "--bit-depth", "16"]) == 2
    assert "8 bits" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # nothing made


def test_lut_fit_is_exact_for_a_global_affine_look() -> None:
    rng = np.random.default_rng(0)
    colours = rng.random((6000, 3))
    matrix = np.array([[0.8, 0.1, 0.0], [0.0, 0.8, 0.1], [0.05, 0.0, 0.7]])
    fitted = lut.fit_lut(colours, colours @ matrix.T + 0.05)
    probe = rng.random((500, 3))
    np.testing.assert_allclose(lut.apply_lut(fitted, probe), probe @ matrix.T + 0.05,
                               atol=1e-4)
    same = lut.fit_lut(colours, colours)
    np.testing.assert_allclose(same, lut.identity_lut(), atol=1e-6)


def test_trilinear_application_by_hand() -> None:
    table = lut.identity_lut(2).copy()
    table[1, 1, 1] = [0.5, 0.5, 0.5]  # white maps to grey; every other corner to itself
    # at (0.5, 0.5, 0.5) the eight corners weigh 1/8 each
    expected = (lut.identity_lut(2).reshape(-1, 3).sum(0) - 0.5) / 8
    np.testing.assert_allclose(lut.apply_lut(table, np.array([0.5, 0.5, 0.5])), expected)
    np.testing.assert_allclose(lut.apply_lut(table, np.array([1.0, 1.0, 1.0])), [0.5] * 3)


def test_cube_file_round_trip_and_bad_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    table = rng.random((5, 5, 5, 3))
    path = lut.write_cube(table, tmp_path / "look.cube", title='say "hi"')
    text = path.read_text().splitlines()
    assert text[1] == "LUT_3D_SIZE 5" and len(text) == 4 + 125
    # red changes fastest: the second row is table[1, 0, 0]
    np.testing.assert_allclose([float(v) for v in text[5].split()], table[1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(lut.read_cube(path), table, atol=1e-6)
    bad = tmp_path / "bad.cube"
    bad.write_text("LUT_3D_SIZE 4\n0 0 0\n")
    with pytest.raises(InputError, match="bad.cube"):
        lut.read_cube(bad)


def _ffmpeg() -> str:
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    return imageio_ffmpeg.get_ffmpeg_exe()


def test_ffmpeg_lut3d_applies_our_lut_as_we_do(image_pair, shallow_vgg_file: Path,
                                                tmp_path: Path) -> None:
    """The exported LUT, read by an outside program (ffmpeg's lut3d filter, trilinear)."""
    content, style = image_pair
    out = tmp_path / "look.png"
    assert main(["transfer", "-c", str(content), "-s", str(style), "-o", str(out),
                 "--vgg-weights", str(shallow_vgg_file), "--lut", *FAST]) == 0
    cube = out.with_name("look.png.cube")
    report = json.loads(report_path(out).read_text())
    assert report["lut"]["path"] == str(cube) and report["lut"]["size"] == 33
    assert report["lut"]["mean_de"] >= 0
    graded = tmp_path / "ffmpeg.png"
    subprocess.run([_ffmpeg(), "-v", "error", "-y", "-i", str(content), "-vf",
                    f"lut3d=file={cube}:interp=trilinear", "-frames:v", "1", str(graded)],
                   check=True, capture_output=True)
    theirs = np.asarray(Image.open(graded).convert("RGB"), np.int16)
    pixels = np.asarray(Image.open(content).convert("RGB"), np.float64) / 255.0
    ours = np.round(lut.apply_lut(lut.read_cube(cube), pixels) * 255).astype(np.int16)
    assert np.abs(theirs - ours).max() <= 1


def test_a_regional_look_is_flagged(tmp_path: Path, caplog) -> None:
    """The same colours made red on the left and blue on the right: no LUT can do that."""
    content = np.tile(gradient_image(40, 30), (1, 2, 1))
    result = content.copy()
    result[:, :30] = np.clip(content[:, :30] + [0.3, 0, 0], 0, 1)
    result[:, 30:] = np.clip(content[:, 30:] + [0, 0, 0.3], 0, 1)
    caplog.set_level(logging.WARNING, logger="photostyle")
    report = lut.export_lut(TransferResult(result, result), content, tmp_path / "r.cube")
    assert report["regional"] and report["mean_de"] > lut.REGIONAL_DE
    assert "too regional" in caplog.text
    report = lut.export_lut(TransferResult(np.clip(content * 0.9 + 0.05, 0, 1), content),
                            content, tmp_path / "g.cube")
    assert not report["regional"] and report["mean_de"] < 0.5


def test_a_batch_into_its_own_folder_resumes_and_names_the_style(
        tmp_path: Path, shallow_vgg_file: Path, capsys) -> None:
    folder = tmp_path / "shoot"
    folder.mkdir()
    save_png(gradient_image(40, 56, 0), folder / "a.png")
    save_png(gradient_image(36, 50, 1), folder / "b.png")
    style = save_png(gradient_image(48, 40, 1)[..., ::-1].copy(), tmp_path / "style.png")
    args = ["transfer", "-c", str(folder), "-s", str(style), "--out-dir", str(folder),
            "--vgg-weights", str(shallow_vgg_file), "--compare", *FAST]
    assert main(args) == 0
    first = {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*")
             if p.is_file()}
    assert {"a-styled.png", "b-styled.png", "a-styled.png-compare.png"} <= set(first)
    report = json.loads(report_path(folder / "a-styled.png").read_text())
    assert report["inputs"]["style"] == str(style)  # the file, not "ndarray"
    assert report["inputs"]["content"] == str(folder / "a.png")
    capsys.readouterr()
    assert main(args) == 0  # again: its own outputs are no contents, the rest is done
    table = capsys.readouterr().out
    assert "2 skipped" in table, table
    assert "an output of this batch" in table
    assert {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*")
            if p.is_file()} == first
    assert not list(folder.glob("*-styled-styled*"))


def test_a_batch_over_a_folder_leaves_out_its_style_and_both_mask_spellings(
        tmp_path: Path) -> None:
    """data/ as it ships: photos, NAME_mask.png files and the style photo in one folder."""
    from photostyle.runs.batch import collect

    folder = tmp_path / "data"
    folder.mkdir()
    for name in ("content.png", "style.png", "other.png"):
        save_png(gradient_image(20, 24), folder / name)
    mask = np.zeros((20, 24, 3), np.uint8)
    mask[:10] = (0, 0, 255)
    for name in ("content_mask.png", "style_mask.png", "other-mask.png"):
        save_png(mask, folder / name)
    batch = collect([folder], tmp_path / "out", others={
        "style photo": folder / "style.png", "style mask": folder / "style_mask.png"})
    assert [i.content.name for i in batch.items] == ["content.png", "other.png"]
    assert [i.mask.name if i.mask else None for i in batch.items] == [
        "content_mask.png", "other-mask.png"]
    why = {p.name: reason for p, reason in batch.left_out}
    assert why == {"style.png": "the batch's style photo", "style_mask.png": "a mask",
                   "content_mask.png": "a mask", "other-mask.png": "a mask"}
    # named through a link, the style is still recognised
    link = folder / "look.png"
    link.symlink_to(folder / "style.png")
    batch = collect([folder], tmp_path / "out", others={"style photo": link})
    assert "style.png" not in [i.content.name for i in batch.items]
