"""Automatic segmentation, with a random-weight SegFormer built offline."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from photostyle.engine.masks import PALETTE, align_labels, read_mask
from photostyle.engine.segment import (
    ADE20K_CLASSES,
    CLASS_TO_GROUP,
    GROUP_COLOURS,
    GROUP_NAMES,
    GROUPS,
    SegmentationError,
    Segmenter,
    group_members,
    remove_fragments,
    write_mask,
)
from photostyle.runs.outputs import report_path

from ..conftest import gradient_image


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import segmentation_models_pytorch as smp

    torch.manual_seed(0)
    model = smp.Segformer(encoder_name="mit_b0", encoder_weights=None, classes=150)
    folder = tmp_path_factory.mktemp("segformer")
    model.save_pretrained(folder)
    return folder


def test_merge_table_covers_every_class_exactly_once() -> None:
    assert len(ADE20K_CLASSES) == 150 == len(set(ADE20K_CLASSES))
    listed = [c for classes in GROUPS.values() for c in classes]
    assert len(listed) == len(set(listed)) and set(listed) <= set(ADE20K_CLASSES)
    members = group_members()
    flat = [c for g in GROUP_NAMES for c in members[g]]
    assert sorted(flat) == sorted(ADE20K_CLASSES)
    assert GROUP_NAMES[CLASS_TO_GROUP[ADE20K_CLASSES.index("sky")]] == "sky"
    assert GROUP_NAMES[CLASS_TO_GROUP[ADE20K_CLASSES.index("skyscraper")]] == "structure"
    assert GROUP_NAMES[CLASS_TO_GROUP[ADE20K_CLASSES.index("sofa")]] == "objects"
    assert set(GROUP_COLOURS.values()) <= set(PALETTE) and len(set(GROUP_COLOURS.values())) == 9


def test_random_model_shapes_and_alignment(model_dir: Path, tmp_path: Path) -> None:
    seg = Segmenter.load(str(model_dir))
    content, style = gradient_image(60, 90), gradient_image(80, 50, 3)
    scores = seg.class_scores(content)
    assert scores.shape == (150, 60, 90)
    ids = seg.groups(content)
    assert ids.shape == (60, 90) and ids.min() >= 0 and ids.max() < len(GROUP_NAMES)
    c_map, s_map = seg.segment_pair(content, style)
    assert c_map.shape == (60, 90) and s_map.shape == (80, 50)
    assert set(c_map.names) <= set(PALETTE) and c_map.kind == "color"
    masks = align_labels(c_map, s_map, min_fraction=0.0)
    assert set(masks.labels) <= set(c_map.names)
    # the written colour file round-trips through the mask parser
    path = write_mask(c_map, tmp_path / "m.png")
    back = read_mask(path)
    assert back.names == c_map.names
    np.testing.assert_array_equal(back.ids, c_map.ids)


def test_orphans_follow_the_mask_policy(model_dir: Path) -> None:
    from photostyle.engine.masks import LabelMap

    c = LabelMap(np.array([[0, 1], [0, 1]], np.int32), ["blue", "green"], "color", "c")
    s = LabelMap(np.array([[0, 0], [0, 0]], np.int32), ["blue"], "color", "s")
    masks = align_labels(c, s, orphan_policy="drop", min_fraction=0.0)
    assert masks.labels == ["blue"] and masks.report["orphans"] == ["green"]


def test_small_fragments_are_absorbed() -> None:
    ids = np.zeros((50, 50), np.int32)
    ids[:, 25:] = 1
    ids[10:12, 5:7] = 2  # a 4-pixel island inside label 0
    cleaned = remove_fragments(ids, 0.01)
    assert (cleaned[10:12, 5:7] == 0).all()
    assert (cleaned[:, 25:] == 1).all()


def test_offline_without_model_fails_fast_and_clearly(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    start = time.perf_counter()
    with pytest.raises(SegmentationError) as info:
        Segmenter.load("smp-hub/segformer-b2-512x512-ade-160k")
    assert time.perf_counter() - start < 5
    text = str(info.value)
    assert "smp-hub/segformer-b2-512x512-ade-160k" in text
    assert "--segment none" in text and "--content-mask" in text and "cache" in text


def test_without_network_a_hub_model_fails_at_once(monkeypatch, tmp_path: Path) -> None:
    """No offline variable, no network, nothing cached: the message, not the hub's retries."""
    import segmentation_models_pytorch as smp

    from photostyle.engine import network

    monkeypatch.delenv("PHOTOSTYLE_OFFLINE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(network, "unreachable", lambda url, timeout_s=5.0: "name resolution")
    monkeypatch.setattr(smp, "from_pretrained",
                        lambda *a, **k: pytest.fail("no download may be tried"))
    with pytest.raises(SegmentationError, match=r"no network \(name resolution\)"):
        Segmenter.load("smp-hub/segformer-b2-512x512-ade-160k")


def test_cli_segment_pair(model_dir: Path, image_pair, tmp_path: Path) -> None:
    from photostyle.cli import main

    content, style = image_pair
    code = main(["segment", "--content", str(content), "--style", str(style),
                 "--content-out", str(tmp_path / "c.png"), "--style-out",
                 str(tmp_path / "s.png"), "--seg-model", str(model_dir)])
    assert code == 0
    assert read_mask(tmp_path / "c.png").shape == (40, 56)
    legend = (tmp_path / "c-legend.txt").read_text()
    assert "sky" in legend and "skyscraper" in legend


def test_transfer_default_needs_no_download_a_segformer_says_what_to_do(
        image_pair, tmp_path: Path) -> None:
    """The headline command (two photos, an output, nothing else) runs offline with empty
    caches; naming a SegFormer that is not cached fails with one clear line."""
    content, style = image_pair
    env = {"PHOTOSTYLE_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
           "TORCH_HOME": str(tmp_path / "th"), "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "photostyle", "transfer", "--content", str(content),
               "--style", str(style)]
    proc = subprocess.run([*command, "-o", str(tmp_path / "o.png")], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "built-in segmenter" in proc.stderr
    report = json.loads(report_path(tmp_path / "o.png").read_text())
    assert report["masks"]["mode"] == "auto" and report["masks"]["model"] == "builtin"
    assert report["config"]["vgg_weights"] is None and report["vgg_weights"] == "embedded"
    assert not (tmp_path / "th").exists() or not any((tmp_path / "th").rglob("*.pth"))
    proc = subprocess.run([*command, "-o", str(tmp_path / "p.png"), "--seg-model",
                           "smp-hub/segformer-b2-512x512-ade-160k"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert "segmentation model" in proc.stderr and "--segment none" in proc.stderr
    assert not (tmp_path / "p.png").exists()


def test_transfer_with_auto_segmentation(model_dir: Path) -> None:
    from photostyle import transfer

    result = transfer(gradient_image(40, 40), gradient_image(40, 40, 1), vgg_weights="random",
                      content_layer="relu2_1", style_layers=("relu1_1",), size=32, scales=1,
                      iterations=2, seg_model=str(model_dir))
    assert result.report["masks"]["mode"] == "auto"
    assert result.report["masks"]["model"] == str(model_dir)
