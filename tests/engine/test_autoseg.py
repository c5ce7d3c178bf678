"""The built-in segmenter: aligned regions of two photos with different light, offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from photostyle.engine.autoseg import MIN_SHARE, REGION_NAMES, FeatureSegmenter
from photostyle.engine.config import MAX_SEG_REGIONS, TransferConfig
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


def town(h: int, w: int, sky: tuple[float, float, float], houses: tuple[float, float, float],
         water: tuple[float, float, float], top: float, bottom: float,
         seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A sky over a band of houses (blocks of light and shade) over rippled water:
    ``(H, W, 3)`` in [0, 1] and the truth, 0 sky, 1 houses, 2 water."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    upper = top * h + 0.05 * h * np.sin(x / w * 7.0 + seed)
    truth = np.where(y < upper, 0, np.where(y < bottom * h, 1, 2)).astype(np.int32)
    image = np.empty((h, w, 3), np.float32)
    image[:] = np.array(sky, np.float32) * (1.1 - 0.3 * (y / h))[..., None]
    blocks = rng.random((h // 6 + 1, w // 6 + 1)).repeat(6, 0).repeat(6, 1)[:h, :w]
    house_rgb = np.array(houses, np.float32) * (0.3 + blocks[..., None])
    water_rgb = np.array(water, np.float32) * (0.85 + 0.15 * np.sin(y / 2.0))[..., None]
    image[truth == 1] = house_rgb[truth == 1]
    image[truth == 2] = water_rgb[truth == 2]
    return np.clip(image, 0, 1), truth


def test_three_regions_by_default_sky_houses_water(segmenter: FeatureSegmenter) -> None:
    """The default (3 regions) on a day town and a dusk town with other horizons: sky,
    houses and water each get one label, the same one in both photos, on the right pixels;
    asked for 2, the same pair gets two labels."""
    day, day_truth = town(150, 220, (0.45, 0.65, 0.95), (0.8, 0.6, 0.4), (0.2, 0.35, 0.5),
                          0.35, 0.7, seed=1)
    dusk, dusk_truth = town(180, 240, (0.95, 0.55, 0.25), (0.25, 0.15, 0.12),
                            (0.3, 0.15, 0.1), 0.45, 0.75, seed=2)
    assert segmenter.regions == TransferConfig().seg_regions == 3
    c, s = segmenter.segment_pair(day, dusk)
    assert c.names == s.names and len(c.names) == 3
    meaning = [np.bincount(c.ids[day_truth == part]).argmax() for part in range(3)]
    assert sorted(meaning) == [0, 1, 2]  # three parts, three labels
    for labels, truth in ((c, day_truth), (s, dusk_truth)):
        for part in range(3):
            assert (labels.ids[truth == part] == meaning[part]).mean() > 0.9
    c2, s2 = segmenter.segment_pair(day, dusk, regions=2)
    assert c2.names == s2.names and len(c2.names) == 2
    with pytest.raises(ValueError, match="regions: 1 to 6"):
        segmenter.segment_pair(day, dusk, regions=7)
    assert len(REGION_NAMES) == MAX_SEG_REGIONS  # one palette colour for each region


def still_life(h: int, w: int, thing: tuple[float, float, float],
               backdrop: tuple[float, float, float], centre: tuple[float, float],
               radii: tuple[float, float], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A textured oval thing on a plain backdrop: ``(H, W, 3)`` in [0, 1] and the truth
    (1 on the thing)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    truth = ((((y - centre[0] * h) / (radii[0] * h)) ** 2
              + ((x - centre[1] * w) / (radii[1] * w)) ** 2) < 1).astype(np.int32)
    image = np.empty((h, w, 3), np.float32)
    image[:] = np.array(backdrop, np.float32) * (1.0 - 0.1 * (y / h))[..., None]
    texture = rng.random((h // 3 + 1, w // 3 + 1)).repeat(3, 0).repeat(3, 1)[:h, :w]
    thing_rgb = np.array(thing, np.float32) * (0.5 + 0.7 * texture[..., None])
    image[truth == 1] = thing_rgb[truth == 1]
    return np.clip(image, 0, 1), truth


def test_a_thing_on_a_backdrop_gets_its_own_region(segmenter: FeatureSegmenter) -> None:
    """A grey statue on white and a golden one on black (the backdrops' light inverted):
    with the default regions one label holds the thing in both photos and hardly any of
    either backdrop; with two regions the thing's label takes half a backdrop as well."""
    statue, statue_truth = still_life(160, 120, (0.6, 0.6, 0.62), (0.95, 0.96, 0.98),
                                      (0.5, 0.5), (0.4, 0.3), seed=1)
    gold, gold_truth = still_life(150, 220, (0.9, 0.7, 0.3), (0.05, 0.04, 0.03),
                                  (0.55, 0.5), (0.35, 0.3), seed=2)
    c, s = segmenter.segment_pair(statue, gold)
    thing = np.bincount(c.ids[statue_truth == 1]).argmax()
    for labels, truth in ((c, statue_truth), (s, gold_truth)):
        assert (labels.ids[truth == 1] == thing).mean() > 0.9
        assert (labels.ids[truth == 0] == thing).mean() < 0.05
    c2, _ = segmenter.segment_pair(statue, gold, regions=2)
    thing2 = np.bincount(c2.ids[statue_truth == 1]).argmax()
    assert (c2.ids[statue_truth == 0] == thing2).mean() > 0.3  # half the backdrop with it


def test_descriptors_place_height_and_distance_from_the_edges(
        segmenter: FeatureSegmenter) -> None:
    """The last two descriptors: height 0 on the top row to 1 on the bottom one, and the
    distance from the nearest edge, 0 on every edge and 1 at the centre (grid 25 x 33)."""
    image = np.random.default_rng(0).random((100, 132, 3)).astype(np.float32)
    described, (h, w) = segmenter.describe(image)
    assert (h, w) == (25, 33) and described.shape == (h * w, 256 + 5)
    height = described[:, -2].reshape(h, w).numpy()
    inside = described[:, -1].reshape(h, w).numpy()
    assert np.allclose(height[:, 0], np.linspace(0, 1, h)) and np.ptp(height, axis=1).max() == 0
    for edge in (inside[0], inside[-1], inside[:, 0], inside[:, -1]):
        assert np.allclose(edge, 0)
    assert inside[h // 2, w // 2] == pytest.approx(1.0)
    # a quarter of the way in from the left, away from the others: 0.5
    assert inside[h // 2, 8] == pytest.approx(2 * 8 / (w - 1))


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
    for regions in (1, 2):
        result = transfer(day, dusk, vgg_weights="random", content_layer="relu2_1",
                          style_layers=("relu1_1",), size=48, scales=1, iterations=2,
                          seg_regions=regions)
        masks = result.report["masks"]
        assert masks["mode"] == "auto" and masks["model"] == "builtin"
        assert masks["regions"] == regions and masks["inside_weight"] == 2.0
        assert "built-in segmenter" in masks["segmenter"]
        assert len(masks["labels"]) == regions


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
    assert c.names == s.names and 2 <= len(c.names) <= 3
    legend = (tmp_path / "c-legend.txt").read_text()
    assert "matches between the content and the style" in legend
    assert "blue, green, red." in legend
    code = main(["segment", "--content", str(tmp_path / "day.png"), "--style",
                 str(tmp_path / "dusk.png"), "--content-out", str(tmp_path / "c.png"),
                 "--style-out", str(tmp_path / "s.png"), "--regions", "2"])
    assert code == 0
    c, s = read_mask(tmp_path / "c.png"), read_mask(tmp_path / "s.png")
    assert sorted(c.names) == sorted(s.names) == ["blue", "green"]
    assert "blue, green." in (tmp_path / "c-legend.txt").read_text()
    assert main(["segment", "--content", str(tmp_path / "day.png"), "--style",
                 str(tmp_path / "dusk.png"), "--content-out", str(tmp_path / "c.png"),
                 "--style-out", str(tmp_path / "s.png"), "--regions", "0"]) != 0
