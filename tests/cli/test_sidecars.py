"""``--sidecars``: the report and the transforms in one folder beside the photos (default),
beside each photo, or not at all; ``apply --look-of`` and batches find them either way."""

from __future__ import annotations

import json
from pathlib import Path

from photostyle.cli import main
from photostyle.runs.outputs import SIDECAR_FOLDER

from ..conftest import gradient_image, save_png, transfer_args


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_sidecars_folder_beside_and_none(image_pair, shallow_vgg_file: Path,
                                         tmp_path: Path) -> None:
    content, style = image_pair
    for mode in ("folder", "beside", "none"):
        out_dir = tmp_path / mode
        out = out_dir / "look.jpg"
        args = transfer_args(content, style, out, shallow_vgg_file)
        assert main([*args, "--sidecars", mode]) == 0
        expected = {"folder": {"look.jpg", f"{SIDECAR_FOLDER}/look.jpg.json",
                               f"{SIDECAR_FOLDER}/look.jpg.transforms.npz"},
                    "beside": {"look.jpg", "look.jpg.json", "look.jpg.transforms.npz"},
                    "none": {"look.jpg"}}[mode]
        assert files_under(out_dir) == expected
    report = json.loads((tmp_path / "folder" / SIDECAR_FOLDER / "look.jpg.json").read_text())
    assert report["transforms"].endswith(f"{SIDECAR_FOLDER}/look.jpg.transforms.npz")
    # apply --look-of finds the transforms wherever they went
    for mode in ("folder", "beside"):
        again = tmp_path / f"again-{mode}.png"
        assert main(["apply", "-c", str(content), "--look-of",
                     str(tmp_path / mode / "look.jpg"), "-o", str(again), "-q",
                     "--sidecars", "none"]) == 0
        assert again.is_file()


def test_a_batch_with_sidecars_none_writes_only_photos(shallow_vgg_file: Path,
                                                       tmp_path: Path, capsys) -> None:
    folder = tmp_path / "shoot"
    folder.mkdir()
    for i in range(2):
        save_png(gradient_image(40, 56, i), folder / f"p{i}.png")
    style = save_png(gradient_image(48, 40, 1)[..., ::-1].copy(), tmp_path / "style.png")
    out = tmp_path / "out"
    args = transfer_args(folder, style, out, shallow_vgg_file)
    args[args.index("-o")] = "--out-dir"
    assert main([*args, "--sidecars", "none"]) == 0
    assert files_under(out) == {"p0-styled.png", "p1-styled.png"}
    capsys.readouterr()
    assert main([*args, "--sidecars", "none"]) == 0  # no report to resume by: made again
    assert "2 done" in capsys.readouterr().out
