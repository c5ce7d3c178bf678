"""The analysis scripts' arithmetic (scripts/ is not a package: loaded by path)."""

from __future__ import annotations

import math
from pathlib import Path
from types import ModuleType

import pytest

from .conftest import load_script

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def _load(name: str) -> ModuleType:
    return load_script(name)


tradeoff = _load("tradeoff")


def test_paired_differences_by_hand() -> None:
    run = {"a": 1.0, "b": 2.0, "c": 4.0, "only_run": 99.0}
    ref = {"a": 2.0, "b": 2.5, "c": 3.0, "only_ref": -5.0}
    # differences (run - ref) over the shared pairs a, b, c: -1, -0.5, +1
    mean, se, better, n = tradeoff.paired(run, ref, sign=-1)
    assert n == 3
    assert mean == pytest.approx(-0.5 / 3)
    sd = math.sqrt(((-1 + 0.5 / 3) ** 2 + (-0.5 + 0.5 / 3) ** 2 + (1 + 0.5 / 3) ** 2) / 2)
    assert se == pytest.approx(sd / math.sqrt(3))
    assert better == 2  # lower is better: a and b
    assert tradeoff.paired(run, ref, sign=1)[2] == 1  # higher is better: c only
    # a tie is not better
    assert tradeoff.paired({"a": 1.0}, {"a": 1.0}, sign=1) == (0.0, 0.0, 0, 1)


def test_paired_needs_a_shared_pair() -> None:
    with pytest.raises(ValueError, match="no pair"):
        tradeoff.paired({"a": 1.0}, {"b": 1.0}, sign=1)


def test_step_seconds_interpolates_in_pixel_count() -> None:
    table = {256: 1.0, 512: 4.0}
    assert tradeoff.step_seconds(256, table) == (1.0, False)
    # 384^2 lies (384^2 - 256^2) / (512^2 - 256^2) = 5/12 of the way from 256^2 to 512^2
    assert tradeoff.step_seconds(384, table) == (pytest.approx(1.0 + 5 / 12 * 3.0), True)
    assert tradeoff.step_seconds(128, table) == (pytest.approx(0.25), True)


def test_compare_runs_pairs_runs_on_shared_pairs(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import json

    compare_runs = _load("compare_runs")
    measures = compare_runs.MEASURES

    def row(pair: int, sw: float, seconds: float) -> dict:
        values = dict.fromkeys(measures, 1.0)
        values["style_sw"] = sw
        return {"pair": pair, "method": "ours", **values, "seconds": seconds}

    base, new = tmp_path / "base", tmp_path / "new"
    base.mkdir()
    new.mkdir()
    # the baseline finished (metrics.json); the other is still running (partial lines only)
    (base / "metrics.json").write_text(json.dumps({"rows": [
        row(1, 2.0, 10), row(2, 3.0, 20), row(3, 9.0, 30),
        {"pair": 1, "method": "paper", **dict.fromkeys(measures, 5.0), "seconds": None}]}))
    (new / "metrics.partial.jsonl").write_text(
        "\n".join(json.dumps(r) for r in (row(1, 1.0, 5), row(2, 4.0, 5))) + "\n")
    assert compare_runs.main([str(base), str(new)]) == 0
    out = capsys.readouterr().out
    assert "2 pairs in common: 1, 2" in out  # pair 3 only in the baseline
    # SW: baseline mean 2.5, run mean 2.5, differences -1 and +1: one better, one worse
    assert "| style_sw | 2.500 | 2.500 (+0.000 ± 1.000; better on 1, worse on 1) |" in out
    assert "| seconds per pair | 15.0 | 5.0 |" in out
    with pytest.raises(SystemExit, match="no metrics.json"):
        compare_runs.main([str(base), str(tmp_path / "missing")])


def test_compare_runs_reads_the_variants_of_an_ablation(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    compare_runs = _load("compare_runs")
    measures = compare_runs.MEASURES

    def row(pair: str, variant: str, sw: float, seconds: float | None,
            status: str = "completed") -> dict:
        values = dict.fromkeys(measures, 1.0)
        values["style_sw"] = sw
        return {"pair": pair, "variant": variant, **values, "seconds": seconds,
                "status": status}

    folder = tmp_path / "abl"
    folder.mkdir()
    rows = [row("in1", "published", 5.0, None, "published"), row("in1", "a", 2.0, 10),
            row("in1", "b", 1.0, 30), row("in2", "published", 6.0, None, "published"),
            row("in2", "a", 4.0, 20), row("in2", "b", 5.0, 40), row("in10", "a", 1.0, 5)]
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows)
                                          + '{"pair": "in3", "vari')  # a line cut short
    assert compare_runs.main([str(folder)]) == 0
    out = capsys.readouterr().out
    assert "2 pairs in common: 1, 2" in out  # pair 10 has only variant a
    # a row per variant; baseline a (first finished): b differs by -1 and +1, published by
    # +3 and +2 (style_sw is the first measure; the others are 1.0 everywhere)
    assert "| a | 3.000 (3.000) | 1.000 (1.000) |" in out
    assert "| b | 3.000 (3.000); +0.000 ± 1.000; 1/1 | 1.000 (1.000); +0.000 ± 0.000; 0/0 |" in out
    assert "| published | 5.500 (5.500); +2.500 ± 0.500; 0/2 |" in out
    assert out.rstrip().endswith("| - |")  # published has no time
    assert "1.000 (1.000); +0.000 ± 0.000; 0/0 | 35.0 |" in out  # b's mean time
    assert compare_runs.main([str(folder), "--baseline", "b", "--variants", "a"]) == 0
    out = capsys.readouterr().out
    assert "| b | 3.000 (3.000) |" in out and "| a | 3.000 (3.000); +0.000 ± 1.000; 1/1" in out
    assert "published" not in out
    with pytest.raises(SystemExit, match="not a variant"):
        compare_runs.main([str(folder), "--baseline", "c"])
    with pytest.raises(SystemExit, match="--variants: c: not a variant"):
        compare_runs.main([str(folder), "--variants", "c"])


def test_ablation_chart_summarises_the_pairs_every_variant_finished(tmp_path: Path,
                                                                    capsys) -> None:
    import json

    chart = _load("ablation_chart")
    rows = []
    values = {"published": [4.0, 6.0, 9.0], "masks=manual__matting_weight=10000": [1.0, 3.0],
              "masks=none__matting_weight=0": [2.0, 2.0, 5.0]}
    for variant, sw in values.items():
        for i, v in enumerate(sw):
            rows.append({"pair": f"in{i + 1}", "variant": variant, "style_sw": v,
                         "style_frechet": 2 * v, "structure_ssim": 0.5, "affine_residual": 0.1,
                         "flat_paint": 1.0,
                         "status": "published" if variant == "published" else "completed"})
    rows.append({"pair": "in3", "variant": "masks=manual__matting_weight=10000",
                 "status": "failed"})
    (tmp_path / "results.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    assert chart.main([str(tmp_path), "-o", str(tmp_path / "chart.png")]) == 0
    out = capsys.readouterr().out
    assert "2 pairs finished by every variant: in1, in2" in out  # in3 failed for one
    # hand masks: mean 2 ± 1 (the standard error of 1 and 3); no masks beats it on 1 of 2
    assert "| hand masks, matting on | 2.000 ± 1.000 |" in out
    assert "| no masks, matting off | 2.000 ± 0.000 (1/2) |" in out
    assert "| paper's results | 5.000 ± 1.000 (0/2) |" in out
    from PIL import Image

    with Image.open(tmp_path / "chart.png") as image:
        assert image.width > 1000 and image.height > 300


def test_results_figures_from_evaluate_runs(tmp_path: Path, capsys) -> None:
    import csv

    figures = _load("results_figures")
    fields = ["pair", "method", "style_sw", "style_frechet", "structure_ssim",
              "affine_residual", "flat_paint", "seconds"]
    paper = {1: 3.0, 2: 5.0}
    runs = {"preview": ({1: 2.0, 2: 6.0}, 1.0), "default": ({1: 1.0, 2: 2.0}, 40.0)}
    for name, (sw, seconds) in runs.items():
        (tmp_path / name).mkdir()
        with (tmp_path / name / "metrics.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            for pair in (1, 2):
                for method, value in (("ours", sw[pair]), ("paper", paper[pair])):
                    writer.writerow({"pair": pair, "method": method, "style_sw": value,
                                     "style_frechet": value, "structure_ssim": 0.5,
                                     "affine_residual": 0.1, "flat_paint": 1.0,
                                     "seconds": seconds * pair if method == "ours" else ""})
    assert figures.main(["--run", f"preview={tmp_path / 'preview'}", "--run",
                         f"default={tmp_path / 'default'}", "-o", str(tmp_path / "img")]) == 0
    out = capsys.readouterr().out
    # by hand: preview 1.5 s (1, 2), SW 4 ± 2; default 60 s (40, 80), SW 1.5 ± 0.5
    assert "| preview | 2 | 1.50 | 4.000 ± 2.000 |" in out
    assert "| default | 2 | 60.00 | 1.500 ± 0.500 |" in out
    assert "| paper's results | 2 | | 4.000 ± 1.000 |" in out
    assert "| style distance (SW) | 1.500 | 4.000 | 2/2 |" in out  # default is lower on both
    from PIL import Image

    for name in ("presets_time_style.png", "ours_vs_paper.png"):
        with Image.open(tmp_path / "img" / name) as image:
            assert image.width > 800
    assert figures.main(["--run", f"x={tmp_path}"]) == 2


def test_bench_network_times_each_mode_against_fp32(capsys) -> None:
    bench = _load("bench_network")
    assert bench.main(["--size", "32", "--repeat", "1", "--modes", "fp32,channels_last"]) == 0
    out = capsys.readouterr().out
    assert "fp32: " in out and "gradient differs from fp32 by 0.0e+00" in out
    line = next(x for x in out.splitlines() if "channels_last:" in x)
    assert float(line.split("by ")[1]) < 1e-3  # the same gradient, another layout
