"""The per-region colour transfer used as the starting image."""

from __future__ import annotations

import numpy as np

from photostyle.engine.colour import linear_colour_map, region_colour_transfer
from photostyle.engine.masks import parse_mask_array

from ..conftest import gradient_image


def test_linear_map_matches_mean_and_covariance() -> None:
    rng = np.random.default_rng(0)
    src = rng.multivariate_normal([0.3, 0.4, 0.5], np.diag([0.01, 0.02, 0.015]), 20000)
    tgt = rng.multivariate_normal([0.6, 0.2, 0.3], [[0.02, 0.005, 0], [0.005, 0.01, 0],
                                                     [0, 0, 0.012]], 20000)
    a, b = linear_colour_map(src, tgt)
    mapped = src @ a.T + b
    np.testing.assert_allclose(mapped.mean(0), tgt.mean(0), atol=1e-3)
    np.testing.assert_allclose(np.cov(mapped.T), np.cov(tgt.T), atol=1e-3)
    np.testing.assert_allclose(a, a.T, atol=1e-12)  # the Monge-Kantorovich map is symmetric


def test_flat_regions_are_not_blown_up() -> None:
    rng = np.random.default_rng(1)
    flat = 0.5 + 0.001 * rng.standard_normal((5000, 3))
    busy = rng.random((5000, 3))
    a, _ = linear_colour_map(flat, busy)
    assert np.linalg.eigvalsh(a).max() <= 3.0 + 1e-9


def test_regions_take_their_own_style_colours() -> None:
    content = gradient_image(40, 40) * 0.2 + 0.4
    style = np.zeros((40, 40, 3), np.float32)
    style[:20] = (0.9, 0.2, 0.1)
    style[20:] = (0.1, 0.3, 0.8)
    style += np.random.default_rng(2).normal(0, 0.02, style.shape).astype(np.float32)
    c_mask = np.zeros((40, 40, 3), np.uint8)
    c_mask[:, 20:] = (0, 0, 255)  # content right half: blue label
    c_mask[:, :20] = (0, 255, 0)
    s_mask = np.zeros((40, 40, 3), np.uint8)
    s_mask[20:] = (0, 0, 255)  # style bottom half: blue label
    s_mask[:20] = (0, 255, 0)
    from photostyle.engine.masks import align_labels

    masks = align_labels(parse_mask_array(c_mask), parse_mask_array(s_mask))
    out = region_colour_transfer(content, np.clip(style, 0, 1), masks, blur=0)
    np.testing.assert_allclose(out[:, 25:].reshape(-1, 3).mean(0), (0.1, 0.3, 0.8), atol=0.03)
    np.testing.assert_allclose(out[:, :15].reshape(-1, 3).mean(0), (0.9, 0.2, 0.1), atol=0.03)


def test_strength_moves_each_region_part_of_the_way() -> None:
    """``strength`` scales each region's map towards the identity: 0 leaves the image as it
    is, 0.5 moves a region's mean half way to the style region's (the map is affine, so the
    mean moves exactly by the same share), 1 all the way."""
    from photostyle.engine.masks import MaskSet

    rng = np.random.default_rng(3)
    image = np.clip(0.4 + 0.05 * rng.standard_normal((30, 30, 3)), 0, 1).astype(np.float32)
    style = np.clip(np.array([0.7, 0.3, 0.2]) + 0.05 * rng.standard_normal((30, 30, 3)),
                    0, 1).astype(np.float32)
    masks = MaskSet.single((30, 30), (30, 30))
    same = region_colour_transfer(image, style, masks, blur=0, strength=0.0)
    np.testing.assert_allclose(same, image, atol=1e-6)
    full = region_colour_transfer(image, style, masks, blur=0, strength=1.0)
    half = region_colour_transfer(image, style, masks, blur=0, strength=0.5)
    mean_i, mean_s = image.reshape(-1, 3).mean(0), style.reshape(-1, 3).mean(0)
    np.testing.assert_allclose(full.reshape(-1, 3).mean(0), mean_s, atol=2e-3)
    np.testing.assert_allclose(half.reshape(-1, 3).mean(0), (mean_i + mean_s) / 2, atol=2e-3)
    # half the map, not half the colours: every pixel is the average of the two images
    np.testing.assert_allclose(half, (image + full) / 2, atol=1e-5)


def test_a_gain_of_at_most_one_never_amplifies_a_region() -> None:
    """With ``gain_range=(0.25, 1)`` a region moves to the style's mean but its colours'
    spread never grows, even towards a style of far higher contrast; a style of lower
    contrast still narrows it."""
    from photostyle.engine.masks import MaskSet

    rng = np.random.default_rng(4)
    image = np.clip(0.5 + 0.03 * rng.standard_normal((40, 40, 3)), 0, 1).astype(np.float32)
    busy = np.clip(0.4 + 0.2 * rng.standard_normal((40, 40, 3)), 0, 1).astype(np.float32)
    calm = np.clip(0.6 + 0.01 * rng.standard_normal((40, 40, 3)), 0, 1).astype(np.float32)
    masks = MaskSet.single((40, 40), (40, 40))
    spread = np.linalg.eigvalsh(np.cov(image.reshape(-1, 3).T)).max()
    free = region_colour_transfer(image, busy, masks, blur=0)
    capped = region_colour_transfer(image, busy, masks, blur=0, gain_range=(0.25, 1.0))
    assert np.linalg.eigvalsh(np.cov(free.reshape(-1, 3).T)).max() > 4 * spread
    assert np.linalg.eigvalsh(np.cov(capped.reshape(-1, 3).T)).max() <= spread * 1.0001
    np.testing.assert_allclose(capped.reshape(-1, 3).mean(0), busy.reshape(-1, 3).mean(0),
                               atol=2e-3)
    narrowed = region_colour_transfer(image, calm, masks, blur=0, gain_range=(0.25, 1.0))
    assert np.linalg.eigvalsh(np.cov(narrowed.reshape(-1, 3).T)).max() < 0.3 * spread
