"""Per-region colour transfer: the starting image of the optimisation.

For each label, a linear map of the content region's colours onto the style region's
colour distribution (the Monge-Kantorovich map between Gaussians: it matches mean and
covariance and moves colours as little as possible), blended across regions by soft masks.
Each map is affine in the content's colours, so the result is already photorealistic
(locally affine) and close to the answer; the optimisation then only refines it.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from photostyle.engine.masks import MaskSet

#: Eigenvalues of each region's colour map are kept in this range, so that a nearly flat
#: content region (a clear sky) is not stretched into amplified sensor noise.
GAIN_RANGE = (0.25, 3.0)
_RIDGE = 1e-4


def _sqrtm_psd(m: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(m)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def linear_colour_map(
    source: np.ndarray, target: np.ndarray, gain_range: tuple[float, float] = GAIN_RANGE
) -> tuple[np.ndarray, np.ndarray]:
    """Affine map ``x -> A x + b`` taking ``source`` colours to ``target``'s mean/covariance.

    Args:
        source: ``(N, 3)`` colours; target: ``(M, 3)`` colours.
        gain_range: bounds on the eigenvalues of ``A`` (symmetric positive definite).

    Returns:
        ``A`` ``(3, 3)`` and ``b`` ``(3,)``.
    """
    mu_s, mu_t = source.mean(0), target.mean(0)
    cov_s = np.cov(source.T) + _RIDGE * np.eye(3) if len(source) > 1 else _RIDGE * np.eye(3)
    cov_t = np.cov(target.T) + _RIDGE * np.eye(3) if len(target) > 1 else _RIDGE * np.eye(3)
    s_half = _sqrtm_psd(cov_s)
    s_inv_half = np.linalg.inv(s_half)
    a = s_inv_half @ _sqrtm_psd(s_half @ cov_t @ s_half) @ s_inv_half
    a = (a + a.T) / 2
    w, v = np.linalg.eigh(a)
    a = (v * np.clip(w, *gain_range)) @ v.T
    return a, mu_t - a @ mu_s


def region_colour_transfer(
    content: np.ndarray, style: np.ndarray, masks: MaskSet, blur: float = 2.0,
    strength: float = 1.0, gain_range: tuple[float, float] = GAIN_RANGE,
) -> np.ndarray:
    """Content recoloured region by region with the style's colour statistics.

    Args:
        content: ``(H, W, 3)`` in [0, 1] (the content photo, or an optimised image whose
            regions' colours are to be moved towards the style's); style: ``(Hs, Ws, 3)``
            in [0, 1].
        masks: the label masks (their label maps are resized to these images).
        blur: standard deviation (pixels) of the blending of neighbouring regions.
        strength: how far each region moves, 0 to 1: its map ``x -> A x + b`` becomes
            ``x -> x + strength (A x + b - x)`` (1: the style region's mean and
            covariance; 0: the image unchanged).
        gain_range: bounds on the eigenvalues of each region's map (before ``strength``).

    Returns:
        ``(H, W, 3)`` float32 in [0, 1].
    """
    h, w = content.shape[:2]
    c_masks = masks.content_masks((h, w)).numpy()
    s_masks = masks.style_masks(style.shape[:2]).numpy()
    c_flat, s_flat = content.reshape(-1, 3), style.reshape(-1, 3)
    whole = _towards(linear_colour_map(c_flat, s_flat, gain_range), strength)
    out = np.zeros((h, w, 3), np.float64)
    weight_sum = np.zeros((h, w), np.float64)
    for i in range(len(masks.labels)):
        c_sel, s_sel = c_masks[i].ravel() > 0.5, s_masks[i].ravel() > 0.5
        a, b = whole if c_sel.sum() < 16 or s_sel.sum() < 16 else _towards(
            linear_colour_map(c_flat[c_sel], s_flat[s_sel], gain_range), strength)
        weight = gaussian_filter(c_masks[i].astype(np.float64), blur) if blur > 0 else c_masks[i]
        out += weight[..., None] * (content @ a.T + b)
        weight_sum += weight
    rest = np.clip(1.0 - weight_sum, 0.0, None)  # unlabelled pixels: whole-image map
    out += rest[..., None] * (content @ whole[0].T + whole[1])
    out /= np.maximum(weight_sum + rest, 1e-8)[..., None]
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _towards(map_: tuple[np.ndarray, np.ndarray], strength: float
             ) -> tuple[np.ndarray, np.ndarray]:
    """The affine map ``(A, b)`` moved towards the identity: ``I + s (A - I)``, ``s b``."""
    a, b = map_
    return np.eye(3) + strength * (a - np.eye(3)), strength * b
