"""Quality measures on synthetic cases with known answers."""

from __future__ import annotations

import numpy as np

from photostyle.engine.masks import align_labels, parse_mask_array
from photostyle.engine.metrics import (
    evaluate_images,
    frechet,
    gradient_ssim,
    local_affine_residual,
    sliced_wasserstein,
)

from ..conftest import gradient_image


def test_distances_of_identical_and_shifted_sets() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, (5000, 3))
    assert sliced_wasserstein(a, a) == 0.0
    assert frechet(a, a) < 1e-6
    shifted = a + np.array([3.0, 0.0, 0.0])
    # W1 of a pure shift along direction u is |u . shift|: mean over unit directions
    assert 0.5 < sliced_wasserstein(a, shifted) < 3.0
    assert abs(frechet(a, shifted) - 3.0) < 0.05


def test_identity_output() -> None:
    content, style = gradient_image(40, 50), gradient_image(40, 50, 1)[..., ::-1].copy()
    m = evaluate_images(content, style, content)
    assert m["style_closed"] == 0.0
    assert m["structure_ssim"] > 0.999
    assert m["affine_residual"] < 0.01  # x1000 units: 1e-5 of the variance


def test_affine_map_has_near_zero_residual_and_noise_a_high_one() -> None:
    content = gradient_image(40, 50)
    a = np.array([[0.6, 0.2, 0.0], [0.0, 0.7, 0.1], [0.1, 0.0, 0.5]], np.float32)
    affine = content @ a.T + 0.1
    noise = np.random.default_rng(2).random(content.shape).astype(np.float32)
    assert local_affine_residual(content, affine) < 0.01
    assert local_affine_residual(content, noise) > 100 * local_affine_residual(content, affine)
    assert gradient_ssim(content, noise) < 0.5


def test_swapped_regions_score_worse() -> None:
    h, w = 40, 40
    rng = np.random.default_rng(3)
    content = np.clip(0.5 + rng.normal(0, 0.05, (h, w, 3)), 0, 1).astype(np.float32)
    style = np.zeros((h, w, 3), np.float32)
    style[:20], style[20:] = (0.9, 0.2, 0.1), (0.1, 0.3, 0.8)
    style = np.clip(style + rng.normal(0, 0.03, style.shape), 0, 1).astype(np.float32)
    mask = np.zeros((h, w, 3), np.uint8)
    mask[:20], mask[20:] = (0, 0, 255), (0, 255, 0)
    masks = align_labels(parse_mask_array(mask), parse_mask_array(mask))
    right = style.copy()
    swapped = np.concatenate([style[20:], style[:20]])
    good = evaluate_images(content, style, right, masks)
    bad = evaluate_images(content, style, swapped, masks)
    assert good["style_sw"] < 0.2 * bad["style_sw"]
    assert good["style_closed"] > 0.9 > bad["style_closed"]


def _lab_shift(image: np.ndarray, da: np.ndarray, db: np.ndarray | float = 0.0) -> np.ndarray:
    """``image`` with its CIELAB a* and b* moved by ``da`` and ``db`` (arrays or numbers)."""
    import cv2

    lab = cv2.cvtColor(image.astype(np.float32), cv2.COLOR_RGB2Lab)
    lab[..., 1] += da
    lab[..., 2] += db
    return np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB), 0, 1)


def test_flat_paint_by_hand() -> None:
    from photostyle.engine.metrics import FLAT_TREND_FRACTION, flat_mask, flat_paint

    h = w = 256
    rng = np.random.default_rng(0)
    wall = np.full((h, w, 3), 0.7, np.float32) + 0.002 * rng.standard_normal((h, w, 3)).astype(
        np.float32)  # a plain grey wall with a little sensor noise
    assert flat_mask(wall).all()
    assert flat_paint(wall, wall) == 0.0
    # blotches much smaller than the trend's scale: the measure is their amplitude
    assert 2 * 2 < FLAT_TREND_FRACTION * w
    yy, xx = np.mgrid[0:h, 0:w]
    checker = np.where(((yy // 2) + (xx // 2)) % 2 == 0, 10.0, -10.0).astype(np.float32)
    painted = flat_paint(wall, _lab_shift(wall, checker))
    assert 9.0 < painted < 10.5
    # a uniform recolouring, a smooth ramp and a gain on lightness are not painting (the
    # little left is the sensor noise seen through the colour conversion)
    assert flat_paint(wall, _lab_shift(wall, 12.0, -8.0)) < 0.05 * painted
    ramp = np.linspace(-10, 10, w, dtype=np.float32)[None, :].repeat(h, 0)
    assert flat_paint(wall, _lab_shift(wall, ramp)) < 0.05 * painted
    assert flat_paint(wall, np.clip(wall * 1.2, 0, 1)) < 0.05 * painted
    # a textured content has no flat pixel: nothing to measure
    texture = rng.random((h, w, 3)).astype(np.float32)
    assert not flat_mask(texture).any() and flat_paint(texture, _lab_shift(texture, checker)) == 0


def test_flat_paint_trends_stop_at_region_borders() -> None:
    from photostyle.engine.metrics import flat_paint

    h, w = 128, 256
    wall = np.full((h, w, 3), 0.6, np.float32)
    labels = np.zeros((h, w), np.int32)
    labels[:, w // 2 :] = 1
    step = np.where(labels == 1, 15.0, -15.0).astype(np.float32)  # each region recoloured
    output = _lab_shift(wall, step)
    assert flat_paint(wall, output, labels) < 0.05
    assert flat_paint(wall, output) > 2.0  # one region: the step is paint near the border


def test_evaluate_images_reports_flat_paint() -> None:
    content = gradient_image(48, 64)
    measures = evaluate_images(content, gradient_image(48, 64, 1), content)
    assert measures["flat_paint"] == 0.0
