"""Quality measures on synthetic cases with known answers."""

from __future__ import annotations

import numpy as np

from photostyle.masks import align_labels, parse_mask_array
from photostyle.metrics import (
    evaluate_images,
    frechet,
    gradient_ssim,
    local_affine_residual,
    sliced_wasserstein,
)

from .conftest import gradient_image


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
