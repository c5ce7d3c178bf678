"""Looks kept by name (``photostyle looks``, ``--look``) and the in-place edit an external
editor asks for (``photostyle edit``), with a 16-bit ProPhoto TIFF as Lightroom sends it."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import numpy as np
import pytest

from photostyle.cli import main
from photostyle.engine.config import TransferConfig, preset_config
from photostyle.errors import ConfigError
from photostyle.files import icc
from photostyle.files.images import read_photo
from photostyle.files.metadata import Metadata
from photostyle.files.writers import save_image
from photostyle.runs import edit as edit_module
from photostyle.runs.looks import (
    list_looks,
    load_look,
    looks_folder,
    remove_look,
    resolve_config,
    save_look,
)

from ..conftest import gradient_image, one_error_line, save_png

EXIFTOOL = shutil.which("exiftool")
FAST_SETTINGS = ["content_layer=relu2_1", "style_layers=relu1_1+relu2_1", "segment=none",
                 "size=32", "iterations=2"]


@pytest.fixture
def looks_dir(tmp_path: Path, monkeypatch) -> Path:
    folder = tmp_path / "looks"
    monkeypatch.setenv("PHOTOSTYLE_LOOKS", str(folder))
    return folder


def fast_look(name: str, style: Path, weights: Path, *extra: str) -> list[str]:
    sets = [x for s in [*FAST_SETTINGS, f"vgg_weights={weights}"] for x in ("--set", s)]
    return ["looks", "save", name, "--style", str(style), *sets, *extra]


def test_the_data_folder_follows_the_platform(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PHOTOSTYLE_LOOKS", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    if os.name == "posix" and os.uname().sysname == "Linux":
        assert looks_folder() == tmp_path / "xdg" / "photostyle" / "looks"
    monkeypatch.setenv("PHOTOSTYLE_LOOKS", str(tmp_path / "mine"))
    assert looks_folder() == tmp_path / "mine"


def test_save_list_load_remove(looks_dir: Path, tmp_path: Path) -> None:
    style = save_png(gradient_image(30, 40, 2), tmp_path / "dusk.png")
    config = preset_config("default", strength=0.7, size=256)
    look = save_look("golden hour", style, config)
    assert look.folder == looks_dir / "golden hour"
    assert (look.folder / "style.png").read_bytes() == style.read_bytes()
    described = json.loads((look.folder / "look.json").read_text())
    assert described["settings"] == {"size": 256, "strength": 0.7}
    assert described["preset"] == "default" and described["style_source"] == str(style)
    assert look.config() == config
    with pytest.raises(ConfigError, match="exists.*--replace"):
        save_look("golden hour", style, config)
    save_look("golden hour", style, preset_config("default"), replace=True)
    assert load_look("golden hour").settings == {}
    assert [entry.name for entry in list_looks()] == ["golden hour"]
    assert not [p for p in looks_dir.iterdir() if p.name.startswith(".")]  # no leftovers
    for bad in ("../escape", "a/b", "", ".hidden", "x" * 65, "trailing."):
        with pytest.raises(ConfigError, match="look name"):
            save_look(bad, style, config)
    with pytest.raises(ConfigError, match="not found.*golden hour"):
        load_look("nope")
    # a damaged look is named, never half used
    (look.folder / "style.png").unlink()
    with pytest.raises(ConfigError, match="cannot be used"):
        load_look("golden hour")
    remove_look("golden hour")
    assert list_looks() == []
    assert style.is_file()  # the original style photo stays where it was


def test_the_command_line_wins_over_the_look() -> None:
    from photostyle.runs.looks import StoredLook

    look = StoredLook("x", Path("."), Path("s.png"), None, "quality", {"strength": 0.5})
    assert resolve_config({}, None, look) == preset_config("quality", strength=0.5)
    assert resolve_config({"strength": 0.9}, None, look).strength == 0.9
    # another preset named on the command line replaces the look's preset and settings
    assert resolve_config({}, "default", look) == TransferConfig()


def test_transfer_with_a_look_equals_transfer_with_its_style(
        looks_dir: Path, tmp_path: Path, shallow_vgg_file: Path, image_pair, capsys) -> None:
    content, style = image_pair
    assert main(fast_look("dusk", style, shallow_vgg_file, "--strength", "0.8")) == 0
    assert "saved look 'dusk'" in capsys.readouterr().out
    assert main(["looks", "list"]) == 0
    assert "dusk" in capsys.readouterr().out
    by_look = tmp_path / "by-look.png"
    assert main(["transfer", "-c", str(content), "--look", "dusk", "-o", str(by_look),
                 "-q"]) == 0
    by_style = tmp_path / "by-style.png"
    assert main(["transfer", "-c", str(content), "-s", str(style), "-o", str(by_style),
                 "--vgg-weights", str(shallow_vgg_file), "--content-layer", "relu2_1",
                 "--style-layers", "relu1_1,relu2_1", "--segment", "none", "--size", "32",
                 "--iterations", "2", "--strength", "0.8", "-q"]) == 0
    assert np.array_equal(read_photo(by_look).pixels, read_photo(by_style).pixels)
    report = json.loads((tmp_path / "photostyle-sidecars" / "by-look.png.json").read_text())
    assert report["look"]["name"] == "dusk" and report["config"]["strength"] == 0.8
    capsys.readouterr()
    assert main(["transfer", "-c", str(content), "--look", "dusk", "-s", str(style),
                 "-o", str(tmp_path / "x.png")]) == 2
    assert "give one" in one_error_line(capsys)
    assert main(["transfer", "-c", str(content), "--look", "nope", "-o",
                 str(tmp_path / "x.png")]) == 2
    line = one_error_line(capsys)
    assert "'nope'" in line and "dusk" in line
    assert main(["transfer", "-c", str(content), "-o", str(tmp_path / "x.png")]) == 2
    assert "--style PHOTO, or --look NAME" in one_error_line(capsys)
    assert not (tmp_path / "x.png").exists()
    assert main(["looks", "remove", "dusk"]) == 0
    assert main(["looks", "remove", "dusk"]) == 2


def lightroom_tiff(path: Path) -> Path:
    """A 16-bit ProPhoto RGB TIFF as Lightroom's Edit In writes it, with its XMP."""
    pixels = gradient_image(40, 56, 0)
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/'
           b'02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:xmpMM="http://ns.adobe'
           b'.com/xap/1.0/mm/" xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/" '
           b'xmpMM:DocumentID="xmp.did:lr-1" xmpMM:InstanceID="xmp.iid:lr-2" '
           b'crs:Exposure2012="+1.00"/></rdf:RDF></x:xmpmeta>')
    save_image(pixels, path, bit_depth=16, icc_profile=icc.space("ProPhoto RGB").data,
               metadata=Metadata(None, xmp))
    return path


def test_edit_writes_the_look_into_the_file_itself(
        looks_dir: Path, tmp_path: Path, shallow_vgg_file: Path, capsys) -> None:
    style = save_png(gradient_image(48, 40, 1)[..., ::-1].copy(), tmp_path / "style.png")
    assert main(fast_look("dusk", style, shallow_vgg_file)) == 0
    folder = tmp_path / "Lightroom"
    folder.mkdir()
    photo = lightroom_tiff(folder / "DSC_0001-Edit.tif")
    os.chmod(photo, 0o640)
    before = read_photo(photo)
    original = photo.read_bytes()
    assert main(["edit", str(photo), "--look", "dusk", "-q"]) == 0
    after = read_photo(photo)
    assert photo.read_bytes() != original
    assert after.bit_depth == 16 and after.icc == before.icc  # ProPhoto, 16 bits, kept
    assert after.pixels.shape == before.pixels.shape
    assert np.abs(after.pixels - before.pixels).mean() > 1e-3  # the look is applied
    assert stat.S_IMODE(photo.stat().st_mode) == 0o640
    assert sorted(p.name for p in folder.iterdir()) == ["DSC_0001-Edit.tif"]  # nothing else
    if EXIFTOOL:
        out = json.loads(subprocess.run([EXIFTOOL, "-j", "-struct", "-XMP:all", str(photo)],
                                        capture_output=True, text=True, check=True).stdout)[0]
        assert out["DocumentID"] == "xmp.did:lr-1" and out["InstanceID"] != "xmp.iid:lr-2"
        assert out["History"][-1]["Action"] == "edited"
        assert "Exposure2012" not in out
    # strength 0: the file's own pixels come back (to 16-bit rounding)
    again = lightroom_tiff(folder / "DSC_0002-Edit.tif")
    assert main(["edit", "-c", str(again), "--look", "dusk", "--strength", "0", "-q"]) == 0
    assert np.abs(read_photo(again).pixels - before.pixels).max() < 2 / 65535


def test_a_failed_edit_leaves_the_file_as_it_was(
        looks_dir: Path, tmp_path: Path, shallow_vgg_file: Path, monkeypatch,
        capsys) -> None:
    style = save_png(gradient_image(48, 40, 1), tmp_path / "style.png")
    assert main(fast_look("dusk", style, shallow_vgg_file)) == 0
    photo = lightroom_tiff(tmp_path / "edit.tif")
    original = photo.read_bytes()

    def broken_read(*args, **kwargs):  # the new file does not read back
        from photostyle.errors import InputError

        raise InputError("edited photo: cannot decode image (truncated)")

    with monkeypatch.context() as patch:
        patch.setattr(edit_module, "read_back", broken_read)
        assert main(["edit", str(photo), "--look", "dusk", "-q"]) == 2
        assert "unchanged" in one_error_line(capsys)
    assert photo.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    # a read-only file, a format photostyle cannot write back, a missing look: refused first
    os.chmod(photo, 0o444)
    if not os.access(photo, os.W_OK):  # (root may write anyway)
        assert main(["edit", str(photo), "--look", "dusk", "-q"]) == 2
        assert "read-only" in one_error_line(capsys)
    gif = tmp_path / "x.gif"
    gif.write_bytes(b"GIF89a")
    assert main(["edit", str(gif), "--look", "dusk", "-q"]) == 2
    assert "cannot write .gif" in one_error_line(capsys)
    assert main(["edit", str(photo), "--look", "missing", "-q"]) == 2
    assert photo.read_bytes() == original
    assert edit_module.temporary_name(photo).name.startswith(".")
