"""The files written beside a result: their names, and what the report records."""

from __future__ import annotations

import json
from pathlib import Path

from photostyle.engine.config import TransferConfig
from photostyle.engine.pipeline import transfer
from photostyle.runs.outputs import (
    OutputOptions,
    compare_path,
    lut_path,
    report_path,
    transforms_path,
    write_outputs,
)


def test_the_files_beside_an_output_are_named_after_its_full_name() -> None:
    out = Path("shoot/a.png")
    # a.png and a.jpg keep one each; in one folder beside the photos by default
    assert report_path(out) == Path("shoot/photostyle-sidecars/a.png.json")
    assert transforms_path(out) == Path("shoot/photostyle-sidecars/a.png.transforms.npz")
    assert report_path(out, "beside") == Path("shoot/a.png.json")
    assert transforms_path(out, "beside") == Path("shoot/a.png.transforms.npz")
    assert compare_path(out) == Path("shoot/a.png-compare.png")
    assert lut_path(out) == Path("shoot/a.png.cube")
    every = OutputOptions(compare=True, lut="")
    assert [what for what, _ in every.files(out)] == [
        "output", "report", "transforms file", "comparison image", "LUT"]
    assert OutputOptions(report=False, save_transforms=False).files(out) == [("output", out)]
    assert OutputOptions(lut="look.cube").files(out)[-1] == ("LUT", Path("look.cube"))


def test_the_report_names_the_files_even_when_pixels_travelled(image_pair,
                                                               shallow_vgg_file: Path,
                                                               tmp_path: Path) -> None:
    from photostyle.files.images import load_image

    content, style = image_pair
    config = TransferConfig(vgg_weights=str(shallow_vgg_file), content_layer="relu2_1",
                            style_layers=("relu1_1",), size=32, iterations=(2,),
                            segment="none")
    result = transfer(load_image(content), load_image(style), config)  # pixels, as a worker
    out = tmp_path / "out.png"
    report = write_outputs(result, out, content, style, OutputOptions(), config.max_pixels,
                           {"batch_key": "k"})
    written = json.loads(report_path(out).read_text())
    assert written == json.loads(json.dumps(report))
    assert written["inputs"]["content"] == str(content)
    assert written["inputs"]["style"] == str(style)
    assert written["batch_key"] == "k" and written["output"] == str(out)
    assert transforms_path(out).exists() and not compare_path(out).exists()
