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
