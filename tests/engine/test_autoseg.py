"""The built-in segmenter: aligned regions of two photos with different light, offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from photostyle.engine.autoseg import MIN_SHARE, FeatureSegmenter
from photostyle.engine.masks import align_labels, read_mask

from ..conftest import load_script


def scene(h: int, w: int, sky: tuple[float, float, float], ground: tuple[float, float, float],
          horizon: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A smooth sky with a gentle gradient over textured ground (leaves, stones): ``(H, W, 3)``
    in [0, 1] and the truth, 0 for sky and 1 for ground, with a wavy horizon."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    line = horizon * h + 0.06 * h * np.sin(x / w * 6.0 + seed)
    truth = (y > line).astype(np.int32)
    image = np.empty((h, w, 3), np.float32)
    fade = (y / h)[..., None]
    image[:] = np.array(sky, np.float32) * (1.1 - 0.3 * fade)
    texture = rng.random((h // 4 + 1, w // 4 + 1)).repeat(4, 0).repeat(4, 1)[:h, :w]
    texture += 0.5 * rng.random((h, w))
    ground_rgb = np.array(ground, np.float32) * (0.4 + 0.8 * texture[..., None])
    image[truth == 1] = ground_rgb[truth == 1]
    return np.clip(image, 0, 1), truth


@pytest.fixture(scope="module")
def segmenter() -> FeatureSegmenter:
    return FeatureSegmenter.load()


def test_day_and_dusk_regions_match(segmenter: FeatureSegmenter) -> None:
    """A blue day sky over green ground and an orange dusk sky over dark brown ground, at
    other sizes and horizons: one label for both skies, one for both grounds, on the right
    pixels (the colours differ completely between the photos)."""
    day, day_truth = scene(150, 220, (0.45, 0.65, 0.95), (0.25, 0.45, 0.15), 0.45, seed=1)
    dusk, dusk_truth = scene(180, 240, (0.95, 0.55, 0.25), (0.22, 0.14, 0.10), 0.6, seed=2)
    c, s = segmenter.segment_pair(day, dusk)
    assert c.names == s.names and len(c.names) == 2
    for labels, truth in ((c, day_truth), (s, dusk_truth)):
        sky = np.bincount(labels.ids[truth == 0]).argmax()
        assert labels.names[sky] == c.names[np.bincount(c.ids[day_truth == 0]).argmax()]
        agree = (labels.ids == np.where(truth == 0, sky, 1 - sky)).mean()
        assert agree > 0.95
    masks = align_labels(c, s)
    assert masks.labels == c.names and not masks.report["orphans"]


def test_deterministic(segmenter: FeatureSegmenter) -> None:
    day, _ = scene(120, 160, (0.4, 0.6, 0.9), (0.3, 0.4, 0.2), 0.5, seed=3)
    dusk, _ = scene(120, 160, (0.9, 0.5, 0.3), (0.2, 0.1, 0.1), 0.5, seed=4)
    first = segmenter.segment_pair(day, dusk)
    second = segmenter.segment_pair(day, dusk)
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(a.ids, b.ids)


def test_a_region_one_photo_lacks_is_merged(segmenter: FeatureSegmenter) -> None:
    """Content: sky over ground; style: nothing but ground. A sky label with (almost) no
    style pixels would be an orphan: it is merged, and one region is left."""
    day, _ = scene(120, 160, (0.45, 0.65, 0.95), (0.25, 0.45, 0.15), 0.5, seed=5)
    ground, _ = scene(120, 160, (0.3, 0.3, 0.2), (0.3, 0.3, 0.2), -0.2, seed=6)
    c, s = segmenter.segment_pair(day, ground)
    areas = s.areas()
    assert len(c.names) == 1 or min(areas.get(n, 0.0) for n in c.names) >= MIN_SHARE * 0.5


def test_one_region_and_uniform_photos(segmenter: FeatureSegmenter) -> None:
    flat = np.full((64, 80, 3), 0.5, np.float32)
    c, s = segmenter.segment_pair(flat, flat[:40])
    assert c.ids.shape == (64, 80) and s.ids.shape == (40, 80)
    assert (c.ids >= 0).all() and (s.ids >= 0).all()
    one = FeatureSegmenter(segmenter.extractor, regions=1)
    c, s = one.segment_pair(*[scene(64, 80, (0.4, 0.6, 0.9), (0.3, 0.4, 0.2), 0.5, i)[0]
                              for i in (7, 8)])
    assert c.names == s.names == ["blue"] and (c.ids == 0).all()


def test_transfer_without_masks_reports_the_builtin_segmenter() -> None:
    from photostyle import transfer

    day, _ = scene(60, 80, (0.45, 0.65, 0.95), (0.25, 0.45, 0.15), 0.45, seed=1)
    dusk, _ = scene(60, 80, (0.95, 0.55, 0.25), (0.22, 0.14, 0.10), 0.6, seed=2)
    result = transfer(day, dusk, vgg_weights="random", content_layer="relu2_1",
                      style_layers=("relu1_1",), size=48, scales=1, iterations=2)
    masks = result.report["masks"]
    assert masks["mode"] == "auto" and masks["model"] == "builtin"
    assert "built-in segmenter" in masks["segmenter"] and len(masks["labels"]) == 2


def test_agreement_measure_by_hand() -> None:
    module = load_script("mask_agreement")
    hand = [np.array([[0, 0, 1, 1]]), np.array([[0, 1, 1, -1]])]
    # labels swapped in both photos: the one-to-one matching undoes it -> perfect
    assert module.agreement([1 - np.clip(h, 0, 1) for h in hand], hand) == pytest.approx(1.0)
    # one label: the largest hand region's share, each photo weighing the same
    # (content: 2 of 4 are label 0; style: 1 of 3 -> best single match is label 1: 2/4, 2/3)
    assert module.agreement([np.zeros((1, 4), int)] * 2, hand) == pytest.approx(
        (2 / 4 + 2 / 3) / 2)
    # one matching for both photos: the content right and the style's labels the other way
    # round: either matching gets one photo right and the other wrong -> (1 + 0) / 2
    style_reversed = np.array([[1, 0, 0, 0]])
    assert module.agreement([hand[0], style_reversed], hand) == pytest.approx(0.5)


def test_cli_segment_pair_builtin(tmp_path: Path) -> None:
    from photostyle.cli import main
    from photostyle.files.writers import save_image

    day, _ = scene(90, 120, (0.45, 0.65, 0.95), (0.25, 0.45, 0.15), 0.45, seed=1)
    dusk, _ = scene(90, 120, (0.95, 0.55, 0.25), (0.22, 0.14, 0.10), 0.6, seed=2)
    save_image(day, tmp_path / "day.png")
    save_image(dusk, tmp_path / "dusk.png")
    code = main(["segment", "--content", str(tmp_path / "day.png"), "--style",
                 str(tmp_path / "dusk.png"), "--content-out", str(tmp_path / "c.png"),
                 "--style-out", str(tmp_path / "s.png")])
    assert code == 0
    c, s = read_mask(tmp_path / "c.png"), read_mask(tmp_path / "s.png")
    assert sorted(c.names) == sorted(s.names) == ["blue", "green"]
    assert "matches between the content and the style" in (
        tmp_path / "c-legend.txt").read_text()
