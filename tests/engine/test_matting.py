"""The matting Laplacian: invariants, a direct reference, and the regulariser's gradient."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from photostyle.engine.matting import (
    MattingTerm,
    _QuadraticForm,
    laplacian_energy,
    matting_laplacian,
    to_torch_csr,
)


def reference_laplacian(img: np.ndarray, radius: int = 1, eps: float = 1e-7) -> np.ndarray:
    """Dense L written directly from Levin et al.'s formula, looping over windows."""
    h, w, _ = img.shape
    n = (2 * radius + 1) ** 2
    lap = np.zeros((h * w, h * w))
    for cy in range(radius, h - radius):
        for cx in range(radius, w - radius):
            ys, xs = np.mgrid[cy - radius : cy + radius + 1, cx - radius : cx + radius + 1]
            idx = (ys * w + xs).ravel()
            win = img[ys, xs].reshape(n, 3)
            mu = win.mean(0)
            cov = (win - mu).T @ (win - mu) / n
            inv = np.linalg.inv(cov + eps / n * np.eye(3))
            for a in range(n):
                for b in range(n):
                    lap[idx[a], idx[b]] += (a == b) - (
                        1 + (win[a] - mu) @ inv @ (win[b] - mu)) / n
    return lap


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.random((12, 15, 3))


def test_matches_direct_reference(image: np.ndarray) -> None:
    lap = matting_laplacian(image, radius=1, eps=1e-7)
    ref = reference_laplacian(image, 1, 1e-7)
    np.testing.assert_allclose(lap.toarray(), ref, atol=1e-9, rtol=0)


def test_matches_reference_radius_2_and_larger_eps() -> None:
    img = np.random.default_rng(1).random((9, 8, 3))
    np.testing.assert_allclose(matting_laplacian(img, 2, 1e-4).toarray(),
                               reference_laplacian(img, 2, 1e-4), atol=1e-9, rtol=0)


def test_near_singular_windows_are_stable() -> None:
    # Flat and nearly grey windows: Sigma + eps/9 I has condition numbers near 1e7.
    img = np.full((10, 11, 3), 0.5)
    img[:, 5:, :] = 0.7
    img[3, 4, 0] += 1e-4
    lap = matting_laplacian(img, 1, 1e-7)
    ref = reference_laplacian(img, 1, 1e-7)
    np.testing.assert_allclose(lap.toarray(), ref, atol=1e-6 * np.abs(ref).max(), rtol=0)


def test_symmetric_zero_row_sums_psd(image: np.ndarray) -> None:
    lap = matting_laplacian(image)
    assert isinstance(lap, sp.csr_matrix)
    assert lap.shape == (180, 180)
    assert abs(lap - lap.T).max() < 1e-12
    np.testing.assert_allclose(np.asarray(lap.sum(axis=1)).ravel(), 0.0, atol=1e-10)
    rng = np.random.default_rng(2)
    for _ in range(50):
        v = rng.standard_normal(180)
        assert v @ (lap @ v) >= -1e-9 * (v @ v)
    assert np.linalg.eigvalsh(lap.toarray()).min() > -1e-9


def test_affine_transform_has_near_zero_energy(image: np.ndarray) -> None:
    big = np.random.default_rng(3).random((40, 50, 3))
    lap = matting_laplacian(big)
    a = np.array([[0.6, 0.2, -0.1], [0.1, 0.9, 0.0], [-0.2, 0.3, 0.5]])
    affine = big @ a.T + np.array([0.1, -0.05, 0.2])
    noise = np.random.default_rng(4).random(big.shape)
    e_affine, e_noise = laplacian_energy(lap, affine), laplacian_energy(lap, noise)
    assert e_affine < 1e-4 * e_noise


def test_constant_image_and_tiny_images() -> None:
    lap = matting_laplacian(np.zeros((2, 5, 3)))  # no full window fits
    assert lap.shape == (10, 10) and lap.nnz == 0
    flat = matting_laplacian(np.full((6, 6, 3), 0.3))
    assert abs(laplacian_energy(flat, np.full((6, 6, 3), 0.8))) < 1e-10


def test_gradient_is_two_m_v_and_matches_finite_differences(image: np.ndarray) -> None:
    lap = matting_laplacian(image)
    m = to_torch_csr(lap, torch.float64)
    v = torch.rand(1, 3, 12, 15, dtype=torch.float64, requires_grad=True)
    scale = 0.37
    energy = _QuadraticForm.apply(v, m, scale)
    flat = v.detach()[0].reshape(3, -1).T.numpy()
    expected_energy = scale * np.sum(flat * (lap @ flat))
    np.testing.assert_allclose(float(energy.detach()), expected_energy, rtol=1e-12)
    energy.backward()
    expected = 2 * scale * (lap @ flat).T.reshape(1, 3, 12, 15)
    np.testing.assert_allclose(v.grad.numpy(), expected, rtol=1e-10, atol=1e-12)
    assert torch.autograd.gradcheck(lambda x: _QuadraticForm.apply(x, m, scale), (v,))


def test_matting_term_normalised_by_pixels(image: np.ndarray) -> None:
    term = MattingTerm(image.astype(np.float32))
    out = torch.rand(1, 3, 12, 15)
    v = out[0].reshape(3, -1).T.double().numpy()
    expected = np.sum(v * (term.laplacian @ v)) / 180
    np.testing.assert_allclose(float(term(out)), expected, rtol=1e-4)
    with pytest.raises(ValueError, match="size"):
        term(torch.rand(1, 3, 10, 15))
