"""Smoothing and full-resolution output through local affine transforms."""

from __future__ import annotations

import numpy as np
import pytest

from photostyle.engine.smooth import affine_fit, apply_coefficients, finish, guided_filter

from ..conftest import gradient_image

# Maps [0, 1] colours into [0, 1] (no clipping), so A c + B is exactly affine.
A = np.array([[0.6, 0.2, 0.0], [0.0, 0.7, 0.1], [0.1, 0.0, 0.5]], np.float32)
B = np.array([0.1, 0.05, 0.2], np.float32)


def local_affine_residual(content: np.ndarray, out: np.ndarray, radius: int = 1) -> float:
    a, b = affine_fit(content, out, radius, 1e-6)
    fit = np.einsum("hwki,hwi->hwk", a, content) + b
    return float(np.mean((fit - out) ** 2) / max(np.var(out), 1e-12))


@pytest.mark.parametrize("method", ["local-affine", "guided"])
def test_affine_output_is_unchanged(method: str) -> None:
    content = gradient_image(37, 53)
    styled = np.clip(content @ A.T + B, 0, 1)
    out = finish(content, styled, content, method, radius=2, eps=1e-6, sigma=0.1)
    np.testing.assert_allclose(out, styled, atol=2e-3)


def test_affine_output_survives_4x_upsampling() -> None:
    big = gradient_image(148, 212, seed=3)
    from photostyle.files.images import resize

    small = resize(big, (37, 53))
    styled_small = np.clip(small @ A.T + B, 0, 1)
    out = finish(small, styled_small, big, "local-affine", radius=2, eps=1e-6, sigma=0.1)
    assert out.shape == (148, 212, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, np.clip(big @ A.T + B, 0, 1), atol=0.02)


def test_noisy_output_becomes_locally_affine() -> None:
    content = gradient_image(40, 50)
    rng = np.random.default_rng(1)
    noisy = np.clip(content @ A.T + B + rng.normal(0, 0.1, content.shape), 0, 1).astype(np.float32)
    out = finish(content, noisy, content, "local-affine")
    assert local_affine_residual(content, out) < 0.1 * local_affine_residual(content, noisy)
    assert 0.0 <= out.min() and out.max() <= 1.0


@pytest.mark.parametrize("shape", [(1, 1), (3, 200), (200, 3), (17, 9)])
def test_odd_sizes_and_extreme_aspect(shape: tuple[int, int]) -> None:
    content = gradient_image(*shape)
    out = finish(content, content[..., ::-1].copy(), content, "local-affine")
    assert out.shape == (*shape, 3) and np.isfinite(out).all()
    up = finish(content, content, gradient_image(shape[0] * 3, shape[1] * 2), "guided")
    assert up.shape == (shape[0] * 3, shape[1] * 2, 3)


def test_none_returns_raw_image() -> None:
    content = gradient_image(10, 12)
    noisy = np.random.default_rng(0).random((10, 12, 3)).astype(np.float32)
    np.testing.assert_array_equal(finish(content, noisy, content, "none"), noisy)


def test_guided_filter_is_identity_on_guide() -> None:
    content = gradient_image(30, 30)
    np.testing.assert_allclose(guided_filter(content, content, 2, 1e-8), content, atol=1e-3)


def test_apply_coefficients_tiles_match_whole(monkeypatch) -> None:
    import photostyle.engine.smooth as smooth

    content = gradient_image(20, 30)
    a, b = affine_fit(content, content[..., ::-1].copy(), 2, 1e-4)
    big = gradient_image(90, 70, seed=4)
    whole = apply_coefficients(a, b, big)
    monkeypatch.setattr(smooth, "TILE_ROWS", 7)
    np.testing.assert_allclose(apply_coefficients(a, b, big), whole, atol=1e-6)


def test_scale_towards_identity_by_hand() -> None:
    from photostyle.engine.smooth import scale_towards_identity

    a = np.array([[2.0, 0.5, 0.0], [0.0, 1.0, -1.0], [0.2, 0.0, 3.0]]).reshape(1, 1, 3, 3)
    b = np.array([0.4, -0.2, 0.1]).reshape(1, 1, 3)
    a2, b2 = scale_towards_identity(a, b, 0.25)
    # I + 0.25 (A - I): diagonal 1 + 0.25 (a_kk - 1), off-diagonal 0.25 a_kj
    expected = np.array([[1.25, 0.125, 0.0], [0.0, 1.0, -0.25], [0.05, 0.0, 1.5]])
    np.testing.assert_allclose(a2[0, 0], expected)
    np.testing.assert_allclose(b2[0, 0], [0.1, -0.05, 0.025])
    a0, b0 = scale_towards_identity(a, b, 0.0)
    np.testing.assert_array_equal(a0[0, 0], np.eye(3))
    np.testing.assert_array_equal(b0, 0.0)


@pytest.mark.parametrize("method", ["local-affine", "guided", "none"])
def test_strength_is_linear_between_the_content_and_the_full_look(method: str) -> None:
    content = gradient_image(30, 40) * 0.6 + 0.2
    rng = np.random.default_rng(0)
    # a regional recolouring (what an optimised image looks like, roughly), inside [0, 1]
    stylised = np.clip(content[..., ::-1] * 0.7 + 0.1 + 0.02 * rng.standard_normal(
        content.shape), 0, 1).astype(np.float32)
    big = gradient_image(60, 80) * 0.6 + 0.2  # the output size differs from the working size
    runs = {s: finish(content, stylised, big, method, strength=s) for s in (0.0, 0.5, 1.0)}
    np.testing.assert_array_equal(runs[0.0], big.astype(np.float32))  # exactly the content
    inside = (runs[1.0] > 0) & (runs[1.0] < 1)  # where nothing was clipped
    assert inside.mean() > 0.9
    np.testing.assert_allclose(runs[0.5][inside], ((runs[0.0] + runs[1.0]) / 2)[inside],
                               atol=1e-5)
    assert np.abs(runs[1.0] - runs[0.0]).mean() > 0.05  # the look itself is not nothing
