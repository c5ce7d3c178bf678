"""Ablations: naming, parsing, aggregate tables, resume after an interruption."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from photostyle.engine.config import TransferConfig
from photostyle.errors import ConfigError, InputError
from photostyle.runs.ablate import (
    _format,
    aggregate,
    expand,
    find_pairs,
    parse_exclude,
    parse_vary,
    run_ablation,
    variant_name,
    variant_names,
)

from ..conftest import gradient_image, make_pairs, save_png

BASE = TransferConfig(vgg_weights="random", content_layer="relu2_1",
                      style_layers=("relu1_1", "relu2_1"), size=32, scales=1, iterations=2,
                      segment="none")


def test_parse_and_name_variants() -> None:
    vary = parse_vary(["matting_weight=0,1e4", "smooth=local-affine,none",
                       "style_layers=relu1_1+relu2_1,relu1_1"])
    assert vary["matting_weight"] == [0.0, 1e4]
    assert vary["style_layers"] == [("relu1_1", "relu2_1"), ("relu1_1",)]
    combos = expand(vary)
    assert len(combos) == 8
    assert variant_name(combos[0]) == (
        "matting_weight=0__smooth=local-affine__style_layers=relu1_1+relu2_1")
    assert variant_name({}) == "default"
    assert parse_vary(["smooth=none", "output_size=none,800"]) == {
        "smooth": ["none"], "output_size": [None, 800]}
    with pytest.raises(ConfigError, match="unknown setting"):
        parse_vary(["colour=red"])
    with pytest.raises(ConfigError, match="masks: must be one of"):
        parse_vary(["masks=manual,magic"])
    with pytest.raises(ConfigError, match="size: cannot read"):
        parse_vary(["size=big"])


def test_exclude_leaves_out_combinations() -> None:
    vary = parse_vary(["style_weight=100,0", "hist_weight=0,100", "matting_weight=1e4,0"])
    exclude = parse_exclude(["style_weight=0,hist-weight=0.0"], vary)
    assert exclude == [{"style_weight": 0.0, "hist_weight": 0.0}]
    kept = expand(vary, exclude)
    assert len(kept) == 6  # 8 less the two with both style losses off
    assert all(v["style_weight"] or v["hist_weight"] for v in kept)
    assert [v for v in expand(vary) if v not in kept] == [
        {"style_weight": 0.0, "hist_weight": 0.0, "matting_weight": 1e4},
        {"style_weight": 0.0, "hist_weight": 0.0, "matting_weight": 0.0}]
    # one setting alone excludes every variant that has it
    assert len(expand(vary, parse_exclude(["matting_weight=0"], vary))) == 4
    # typos are errors, not silent no-ops
    with pytest.raises(ConfigError, match="not one of its --vary values"):
        parse_exclude(["style_weight=10"], vary)
    with pytest.raises(ConfigError, match="smooth is not varied"):
        parse_exclude(["smooth=none"], vary)
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_exclude(["style_weight"], vary)
    with pytest.raises(ConfigError, match="every variant is excluded"):
        expand(vary, parse_exclude(["style_weight=100", "style_weight=0"], vary))


def test_aggregate_mean_and_median() -> None:
    rows = [{"variant": "a", "style_sw": v, "style_frechet": 1, "style_closed": 0.5,
             "structure_ssim": 0.9, "affine_residual": 0.1, "seconds": 2} for v in (1, 2, 6)]
    (table,) = aggregate(rows)
    assert table["style_sw_mean"] == 3 and table["style_sw_median"] == 2 and table["pairs"] == 3


@pytest.fixture()
def pairs_dir(tmp_path: Path) -> Path:
    root = make_pairs(tmp_path / "pairs")
    (root / "results").mkdir()
    save_png(gradient_image(32, 40, 7), root / "results" / "best2_t_1000.png")  # published
    save_png(gradient_image(32, 40, 8), root / "results" / "best22_t_1000.png")  # not pair 2's
    return root


def test_find_pairs(pairs_dir: Path) -> None:
    pairs = find_pairs(pairs_dir)
    assert [p.name for p in pairs] == ["in1", "in2"]
    assert pairs[0].content_mask is not None and pairs[0].style.name == "tar1.png"
    assert pairs[0].reference is None
    assert pairs[1].reference is not None and pairs[1].reference.name == "best2_t_1000.png"


def test_run_writes_outputs_and_resumes_after_interrupt(pairs_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "abl"
    vary = {"matting_weight": [0.0, 1e4], "masks": ["manual", "none"]}
    calls = {"n": 0}

    def interrupt_on_third_variant(level, n_levels, count, total, terms) -> None:
        if count == 1:
            calls["n"] += 1
            if calls["n"] == 3:
                raise KeyboardInterrupt

    first = run_ablation(find_pairs(pairs_dir), BASE, vary, out,
                         transfer_progress=interrupt_on_third_variant)
    assert first.status == "interrupted"
    assert len(first.rows) == 2
    lines = (out / "results.jsonl").read_text().splitlines()
    assert len(lines) == 2
    second = run_ablation(find_pairs(pairs_dir), BASE, vary, out)
    assert second.status == "completed"
    assert second.skipped == 2 and len(second.rows) == 9
    # pair 2's published result is scored with the same measures, once
    published = [r for r in second.rows if r["variant"] == "published"]
    assert len(published) == 1 and published[0]["pair"] == "in2"
    assert published[0]["seconds"] is None and 0 <= published[0]["structure_ssim"] <= 1
    names = sorted(p.name for p in (out / "in1").glob("*.png"))
    assert names == ["matting_weight=0__masks=manual.png", "matting_weight=0__masks=none.png",
                     "matting_weight=10000__masks=manual.png",
                     "matting_weight=10000__masks=none.png"]
    # each run's report (settings, loss histories, timings) sits beside its image
    report = json.loads((out / "in1" / "matting_weight=0__masks=none.json").read_text())
    assert report["config"]["matting_weight"] == 0
    assert len(report["levels"][-1]["history"]["total"]) == report["levels"][-1]["evaluations"]
    assert (out / "sheet_in1.png").exists() and (out / "sheet_in2.png").exists()
    table = json.loads((out / "metrics.json").read_text())["aggregate"]
    assert {t["variant"] for t in table} == {
        "matting_weight=0__masks=manual", "matting_weight=0__masks=none",
        "matting_weight=10000__masks=manual", "matting_weight=10000__masks=none", "published"}
    assert all(t["pairs"] == 2 for t in table if t["variant"] != "published")
    assert [t["seconds_mean"] for t in table if t["variant"] == "published"] == [None]
    header = (out / "aggregate.csv").read_text().splitlines()[0]
    assert "style_sw_mean" in header and "structure_ssim_median" in header
    # and a chart beside the tables: a panel per measure, a bar per variant
    from PIL import Image

    from photostyle.runs.plots import COLOURS

    with Image.open(out / "chart.png") as im:
        chart = np.asarray(im.convert("RGB")).astype(int)
    assert chart.shape[1] > 5 * 300
    for colour in COLOURS[:4]:  # the four variants' bars
        assert (np.abs(chart - colour).sum(axis=2) < 6).sum() > 200
    # no published result for every pair: no dashed reference line
    assert (np.abs(chart - (200, 0, 0)).sum(axis=2) < 6).sum() == 0


def test_find_pairs_in_the_original_repositorys_layout(tmp_path: Path) -> None:
    """``examples/input``, ``examples/style``, ``examples/segmentation`` (both photos' masks),
    ``examples/final_results``, as the Deep Photo Style Transfer repository has them."""
    repo = tmp_path / "deep-photo-styletransfer"
    ex = repo / "examples"
    for sub in ("input", "style", "segmentation", "final_results"):
        (ex / sub).mkdir(parents=True)
    for i in (3, 12):
        save_png(gradient_image(32, 40, i), ex / "input" / f"in{i}.png")
        save_png(gradient_image(32, 40, 20 + i), ex / "style" / f"tar{i}.png")
        save_png(gradient_image(32, 40, 40 + i), ex / "segmentation" / f"in{i}.png")
        save_png(gradient_image(32, 40, 60 + i), ex / "segmentation" / f"tar{i}.png")
    save_png(gradient_image(32, 40, 5), ex / "final_results" / "best12_t_1000.png")
    for root in (repo, ex):
        pairs = find_pairs(root)
        assert [p.name for p in pairs] == ["in3", "in12"]
        assert pairs[0].content_mask == ex / "segmentation" / "in3.png"
        assert pairs[0].style_mask == ex / "segmentation" / "tar3.png"
        assert pairs[0].reference is None
        assert pairs[1].reference == ex / "final_results" / "best12_t_1000.png"
    with pytest.raises(InputError, match="examples/input"):
        find_pairs(tmp_path)


def test_excluded_variants_are_not_run(pairs_dir: Path, tmp_path: Path, capsys) -> None:
    from photostyle.cli import main

    out = tmp_path / "abl"
    code = main(["ablate", "--pairs", str(pairs_dir), "--only", "1", "--vgg-weights", "random",
                 "--set", "size=32", "--set", "scales=1", "--set", "iterations=2",
                 "--set", "content_layer=relu2_1", "--set", "style_layers=relu1_1+relu2_1",
                 "--vary", "style_weight=100,0", "--vary", "matting_weight=1e4,0",
                 "--exclude", "style_weight=0,matting_weight=0", "--out", str(out), "-q"])
    assert code == 0, capsys.readouterr().err
    assert sorted(p.name for p in (out / "in1").glob("*.png")) == [
        "style_weight=0__matting_weight=10000.png", "style_weight=100__matting_weight=0.png",
        "style_weight=100__matting_weight=10000.png"]
    assert len((out / "results.jsonl").read_text().splitlines()) == 3
    # a bad exclusion stops before anything runs
    code = main(["ablate", "--pairs", str(pairs_dir), "--vgg-weights", "random",
                 "--vary", "style_weight=100,0", "--exclude", "style_weight=1",
                 "--out", str(tmp_path / "other"), "-q"])
    assert code == 2 and "style_weight=1 is not one of" in capsys.readouterr().err
    assert not (tmp_path / "other").exists()


def test_only_names_pairs_that_do_not_exist(pairs_dir: Path, tmp_path: Path, capsys) -> None:
    from photostyle.cli import main

    code = main(["ablate", "--pairs", str(pairs_dir), "--only", "1,9", "--vgg-weights", "random",
                 "--out", str(tmp_path / "abl"), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "no pair 9 in" in err
    assert not (tmp_path / "abl").exists()  # nothing ran


def test_histogram_settings_vary_like_any_other() -> None:
    vary = parse_vary(["hist_weight=0,100", "hist_layers=relu1_1+relu3_1,relu2_1"])
    assert vary == {"hist_weight": [0.0, 100.0],
                    "hist_layers": [("relu1_1", "relu3_1"), ("relu2_1",)]}
    config = BASE.replace(hist_weight=100.0, hist_layers=("relu1_1", "relu3_1"))
    assert config.layers_in_use() == ["relu2_1", "relu1_1", "relu3_1"]


def test_ablation_varies_the_backbone(pairs_dir: Path, tmp_path: Path) -> None:
    from photostyle.runs.executors import LocalExecutor

    executor = LocalExecutor()
    result = run_ablation(find_pairs(pairs_dir), BASE, {"network": ["vgg19", "vgg16"]},
                          tmp_path / "abl", executor=executor)
    assert result.status == "completed"
    reports = [json.loads(p.read_text()) for p in (tmp_path / "abl").glob("in*/*.json")]
    assert sorted(r["config"]["network"] for r in reports) == ["vgg16", "vgg16", "vgg19",
                                                                "vgg19"]
    # one network of each kind was loaded, and kept for the second pair
    assert sorted(k[1] for k in executor.state.extractors) == ["vgg16", "vgg19"]


def test_variant_names_never_collide() -> None:
    assert _format(0.001) == "0.001" and _format(1e-05) == "1e-05"
    assert _format(0.0010001) != _format(0.001)
    assert _format(1234567.0) != _format(1234568.0)
    # equal values spelled differently run once
    assert parse_vary(["tv_weight=0.001,1e-3,0.0010"]) == {"tv_weight": [0.001]}
    assert parse_vary(["size=64,64.0,128"]) == {"size": [64, 128]}
    with pytest.raises(ConfigError, match="given twice"):
        parse_vary(["size=64", "size=128"])
    # names that differ only in characters a file name cannot hold
    with pytest.raises(ConfigError, match="share the file name"):
        variant_names([{"seg_model": "a b"}, {"seg_model": "a/b"}])
    names = variant_names([{"tv_weight": 0.001}, {"tv_weight": 0.0010001}])
    assert len(set(names)) == 2


def test_aggregate_counts_a_pair_once() -> None:
    row = {"variant": "a", "pair": "in1", "style_sw": 1.0, "style_frechet": 1.0,
           "style_closed": 0.5, "structure_ssim": 0.9, "affine_residual": 0.1, "seconds": 2}
    (table,) = aggregate([row, {**row, "style_sw": 3.0}, {**row, "pair": "in2"}])
    assert table["pairs"] == 2
    assert table["style_sw_mean"] == pytest.approx(2.0)  # 3 (latest for in1) and 1 (in2)
