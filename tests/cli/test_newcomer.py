"""What a newcomer meets on the command line: help for every option, examples, grouped
options, distinct exit statuses, outputs beside the photo, repeating a run from its report,
the loss plot and ``photostyle report``."""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photostyle.cli import main
from photostyle.cli.parser import build_parser
from photostyle.runs.outputs import losses_path, report_path

from ..conftest import CLI_FAST, gradient_image, one_error_line, save_png, transfer_args


def _options(parser: argparse.ArgumentParser, name: str):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, child in action.choices.items():
                yield from _options(child, f"{name} {sub}")
        else:
            yield name, action


def test_every_option_of_every_command_has_help() -> None:
    missing = [f"{name} {action.option_strings or action.dest}"
               for name, action in _options(build_parser(), "photostyle")
               if not action.help or action.help == argparse.SUPPRESS]
    assert missing == []


def test_transfer_help_shows_the_common_options_first_and_examples(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["transfer", "--help"])
    text = capsys.readouterr().out
    groups = [line for line in text.splitlines() if line and not line.startswith(" ")
              and line.endswith(":")]
    assert groups[1] == "the options most people need:"
    common = text.split("the options most people need:")[1].split("\n\n")[0]
    for option in ("--content", "--style", "--output", "--preset", "--strength", "--lut",
                   "--compare"):
        assert option in common
    knobs = text.index("the paper's knobs: network and losses:")
    assert text.index("--matting-weight") > knobs and text.index("--size PX") > knobs
    assert "examples:" in text and "photostyle transfer -c day.jpg -s sunset.jpg" in text
    assert "4 the optimisation diverged" in text


def test_top_level_help_lists_the_exit_statuses(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for status in ("0 done", "2 bad input", "3 some photos", "4 the optimisation diverged",
                   "130 interrupted"):
        assert status in " ".join(text.split())


def test_the_output_goes_beside_the_content_by_default(image_pair, shallow_vgg_file: Path,
                                                       tmp_path: Path, monkeypatch) -> None:
    content, style = image_pair
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["transfer", "-c", str(content), "-s", str(style), "--vgg-weights",
                 str(shallow_vgg_file), *CLI_FAST]) == 0
    assert (content.parent / "content-styled.png").is_file()
    assert report_path(content.parent / "content-styled.png").is_file()
    assert list(elsewhere.iterdir()) == []


def test_segment_takes_one_photo_as_c_too_and_writes_beside_it(tmp_path: Path,
                                                               monkeypatch) -> None:
    photo = save_png(gradient_image(40, 56), tmp_path / "photo.png")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["segment", "-c", str(photo), "-q"]) == 0
    mask = tmp_path / "photo-mask.png"
    assert mask.is_file() and Image.open(mask).size == (56, 40)
    assert not any(p.suffix == ".png" for p in elsewhere.iterdir())
    mask.unlink()
    assert main(["segment", str(photo), "-q"]) == 0  # the old spelling still works
    assert mask.is_file()


def test_repeating_a_run_from_its_report(image_pair, shallow_vgg_file: Path,
                                         tmp_path: Path, caplog) -> None:
    content, style = image_pair
    first = tmp_path / "first.png"
    assert main(transfer_args(content, style, first, shallow_vgg_file, "--seed", "3",
                              "--tv-weight", "0.01")) == 0
    report = json.loads(report_path(first).read_text())
    # the report records every library that shapes the result and the inputs' hashes
    for library in ("torch", "torchvision", "numpy", "scipy", "pillow", "opencv"):
        assert library in report["versions"]
    assert report["files"]["content"]["sha256"] == hashlib.sha256(
        content.read_bytes()).hexdigest()
    assert report["files"]["style"]["bytes"] == style.stat().st_size
    # the same run from the report alone: same settings, same pixels
    again = tmp_path / "again.png"
    assert main(["transfer", "--config", str(report_path(first)), "-o", str(again), "-q"]) == 0
    repeated = json.loads(report_path(again).read_text())
    assert repeated["config"] == report["config"]
    assert repeated["config"]["seed"] == 3 and repeated["config"]["tv_weight"] == 0.01
    assert np.array_equal(np.asarray(Image.open(first)), np.asarray(Image.open(again)))
    # an option given beside it wins; a changed input is named
    with style.open("ab") as f:
        f.write(b"\0")
    third = tmp_path / "third.png"
    assert main(["transfer", "--config", str(report_path(first)), "-o", str(third),
                 "--seed", "5"]) == 0
    assert json.loads(report_path(third).read_text())["config"]["seed"] == 5
    assert any("style" in r.message and "SHA-256 differs" in r.message for r in caplog.records)


def test_config_files_and_their_errors(image_pair, shallow_vgg_file: Path, tmp_path: Path,
                                       capsys) -> None:
    content, style = image_pair
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"size": 40, "iterations": [2, 1], "segment": "none",
                                    "content_layer": "relu2_1",
                                    "style_layers": ["relu1_1"]}))
    out = tmp_path / "o.png"
    assert main(["transfer", "-c", str(content), "-s", str(style), "--config", str(settings),
                 "--vgg-weights", str(shallow_vgg_file), "-o", str(out), "-q"]) == 0
    assert json.loads(report_path(out).read_text())["config"]["iterations"] == [2, 1]
    cases = [
        ({"size": 40, "colour_boost": 2}, "colour_boost: unknown setting"),
        ({"size": "big"}, "size: expected an integer"),
        ([1, 2], "not a photostyle report"),
        ({"status": "completed"}, "records no settings"),
    ]
    for data, message in cases:
        settings.write_text(json.dumps(data))
        assert main(["transfer", "-c", str(content), "-s", str(style), "--config",
                     str(settings), "-o", str(out)]) == 2
        assert message in one_error_line(capsys)
    settings.write_text("{not json")
    assert main(["transfer", "--config", str(settings)]) == 2
    assert "not JSON" in one_error_line(capsys)
    assert main(["transfer", "--config", str(report_path(out)), "--preset", "quality"]) == 2
    assert "without --preset" in one_error_line(capsys)
    assert main(["transfer", "-s", str(style)]) == 2
    assert "give --content" in one_error_line(capsys)


def test_plot_and_report_draw_the_loss_curves(image_pair, shallow_vgg_file: Path,
                                              tmp_path: Path, capsys) -> None:
    content, style = image_pair
    out = tmp_path / "o.png"
    assert main(transfer_args(content, style, out, shallow_vgg_file, "--plot")) == 0
    plot = losses_path(out)
    assert plot.name == "o.png-losses.png"
    with Image.open(plot) as im:
        pixels = np.asarray(im.convert("RGB")).astype(int)
    assert pixels.shape[0] > 300 and pixels.shape[1] > 900  # one panel per level (two)
    total_blue = (abs(pixels - (31, 119, 180)).sum(axis=2) < 30).sum()
    assert total_blue > 100  # the total loss is drawn
    report = json.loads(report_path(out).read_text())
    assert report["loss_plot"] == str(plot)
    capsys.readouterr()
    assert main(["report", str(report_path(out))]) == 0
    text = capsys.readouterr().out
    assert "status: completed" in text and "level 1:" in text and "torchvision" in text
    assert "settings that differ from the defaults:" in text and "size=32" in text
    drawn = report_path(out).with_name("o.png-losses.png")
    assert drawn.is_file()
    assert main(["report", str(content)]) == 2
    assert "not JSON" in one_error_line(capsys)
    # a preview optimises nothing: the report says so and draws nothing
    prev = tmp_path / "p.png"
    assert main(["transfer", "-c", str(content), "-s", str(style), "-o", str(prev),
                 "--preset", "preview", "--plot", "--segment", "none", "-q"]) == 0
    assert not losses_path(prev).exists()


def test_gpu_options_are_checked_before_any_work(image_pair, tmp_path: Path, capsys) -> None:
    content, style = image_pair
    out = tmp_path / "o.png"
    assert main(["transfer", "-c", str(content), "-s", str(style), "-o", str(out),
                 "--device", "gpu"]) == 2
    assert "device: must be auto, cpu, cuda, cuda:N" in one_error_line(capsys)
    assert main(["transfer", "-c", str(content), "-s", str(style), "--out-dir",
                 str(tmp_path / "b"), "--gpus-per-worker", "1"]) == 2
    assert "need --executor ray" in one_error_line(capsys)
    assert not out.exists() and not (tmp_path / "b").exists()


def test_a_report_never_reads_a_fifo_or_a_device(tmp_path: Path) -> None:
    import os

    from photostyle.engine.report import file_record
    from photostyle.runs.repeat import RecordedRun, changed_inputs

    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    assert file_record(fifo) == {"path": str(fifo), "bytes": None, "sha256": None}
    assert file_record("/dev/zero")["sha256"] is None
    run = RecordedRun(config=None, files={"style": {"path": "x", "sha256": "ab" * 32}})  # type: ignore[arg-type]
    assert changed_inputs(run, {"style": fifo}) == []  # its own check refuses it later
    real = tmp_path / "real.png"
    real.write_bytes(b"abc")
    # SHA-256 of b"abc" (FIPS 180-2's example): ba7816bf...
    assert file_record(real)["sha256"] == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    assert len(changed_inputs(run, {"style": real})) == 1


@pytest.mark.parametrize("command", ["transfer", "apply", "masks", "segment", "evaluate",
                                     "ablate", "app", "video", "looks", "edit", "report"])
def test_every_command_shows_examples(command: str, capsys) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    examples = text.split("examples:\n", 1)[1]
    assert f"photostyle {command}" in examples or "photostyle transfer" in examples


def test_inputs_are_named_alike_across_commands(image_pair, tmp_path: Path, capsys) -> None:
    """-c names the photo everywhere; the older spellings still work."""
    content, style = image_pair
    for flag in ("-r", "--result", "-o"):  # evaluate's result (-o: the older spelling)
        assert main(["evaluate", "-c", str(content), "-s", str(style), flag, str(content),
                     "--size", "32"]) == 0
    capsys.readouterr()
    assert main(["edit", "--look", "dusk"]) == 2
    assert "give the photo to edit once" in one_error_line(capsys)
    assert main(["edit", str(content), "-c", str(content), "--look", "dusk"]) == 2
    assert "give the photo to edit once" in one_error_line(capsys)


def test_the_grid_variable_from_the_command_line(image_pair, vgg_file: Path,
                                                 tmp_path: Path) -> None:
    from photostyle.engine.transforms import Look
    from photostyle.runs.outputs import find_transforms

    content, style = image_pair
    out = tmp_path / "grid.png"
    assert main(["transfer", "-c", str(content), "-s", str(style), "-o", str(out),
                 "--vgg-weights", str(vgg_file), *CLI_FAST, "--variable", "grid",
                 "--grid-cells", "4", "--grid-bins", "3", "--grid-weight", "1",
                 "--smooth", "none"]) == 0
    config = json.loads(report_path(out).read_text())["config"]
    assert (config["variable"], config["grid_cells"], config["grid_bins"],
            config["grid_weight"], config["grid_regions"]) == ("grid", 4, 3, 1.0, False)
    look = Look.load(find_transforms(out))
    assert look.grid is not None and look.grid.shape[:3] == (1, 12, 3)
    # the grid is what `apply` renders: the same image again
    again = tmp_path / "again.png"
    assert main(["apply", "-c", str(content), "--transforms", str(find_transforms(out)),
                 "-o", str(again), "-q"]) == 0
    a, b = np.asarray(Image.open(out)), np.asarray(Image.open(again))
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    assert main(["transfer", "-c", str(content), "-s", str(style), "-o", str(out),
                 *CLI_FAST, "--variable", "grid", "--grid-regions", "--smooth", "none"]) == 2
