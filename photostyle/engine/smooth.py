"""Final smoothing and full-resolution output through local affine colour transforms.

All three smoothers express the output as a per-pixel affine function of the content's
colours, ``out(p) = A(p) content(p) + b(p)`` with ``A`` a 3x3 matrix and ``b`` a 3-vector,
so edges and texture come from the content photograph while colours come from the
optimised image:

* ``local-affine`` (default): fit ``A, b`` by ridge regression in every
  ``(2r+1) x (2r+1)`` window (regulariser ``eps``), then smooth the twelve coefficient maps
  over about ``spatial`` pixels with a domain-transform filter steered by the content
  (edge-aware: coefficients do not bleed across the content's edges, whose strength is
  measured against ``sigma``). The coefficients stay independent of the content's colour,
  so the output remains an affine function of the content in every neighbourhood.
* ``guided``: He et al.'s guided filter, i.e. the same fit with the coefficients averaged
  over plain boxes (may halo across strong edges).
* ``none``: the optimised image as it is.

Because the coefficients vary slowly, they are computed at the working size, upsampled
bilinearly and applied to the content at any resolution (the full-resolution output).
Images are ``(H, W, 3)`` float32 arrays in [0, 1].
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from photostyle.files.icc import Encoding

log = logging.getLogger(__name__)

#: Output rows processed at a time when applying coefficients at full resolution.
TILE_ROWS = 256


def box_filter(x: np.ndarray, radius: int) -> np.ndarray:
    """Mean over ``(2r+1)^2`` windows (reflected borders) of an ``(H, W[, C])`` array."""
    k = 2 * radius + 1
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim == 2 or x.shape[2] <= 4:
        out = cv2.blur(x, (k, k), borderType=cv2.BORDER_REFLECT_101)
        return out.reshape(x.shape)
    return np.concatenate(
        [box_filter(x[..., i : i + 4], radius) for i in range(0, x.shape[2], 4)], axis=2
    )


def affine_fit(
    guide: np.ndarray, target: np.ndarray, radius: int, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-window ridge regression of ``target`` on ``guide``.

    Args:
        guide: ``(H, W, 3)`` content colours.
        target: ``(H, W, K)`` values to explain.
        radius: window radius.
        eps: ridge regulariser on ``A``.

    Returns:
        ``A`` ``(H, W, K, 3)`` and ``b`` ``(H, W, K)`` such that, in the window around each
        pixel, ``target ~ A guide + b``.
    """
    g = np.ascontiguousarray(guide, dtype=np.float32)
    t = np.ascontiguousarray(target, dtype=np.float32)
    h, w, k = t.shape
    mean_g = box_filter(g, radius)
    mean_t = box_filter(t, radius)
    gg = np.stack([g[..., i] * g[..., j] for i in range(3) for j in range(i, 3)], axis=2)
    cov_gg_flat = box_filter(gg, radius) - np.stack(
        [mean_g[..., i] * mean_g[..., j] for i in range(3) for j in range(i, 3)], axis=2
    )
    gt = (g[..., :, None] * t[..., None, :]).reshape(h, w, 3 * k)
    cov_gt = (box_filter(gt, radius).reshape(h, w, 3, k)
              - mean_g[..., :, None] * mean_t[..., None, :])
    cov = np.empty((h, w, 3, 3), dtype=np.float64)
    idx = 0
    for i in range(3):
        for j in range(i, 3):
            cov[..., i, j] = cov_gg_flat[..., idx]
            cov[..., j, i] = cov_gg_flat[..., idx]
            idx += 1
    cov[..., [0, 1, 2], [0, 1, 2]] += eps
    # A^T = cov^{-1} cov_gt  (cov is SPD: solve, never an explicit adjugate inverse)
    a_t = np.linalg.solve(cov.reshape(-1, 3, 3), cov_gt.reshape(-1, 3, k).astype(np.float64))
    a = a_t.reshape(h, w, 3, k).transpose(0, 1, 3, 2).astype(np.float32)
    b = mean_t - np.einsum("hwki,hwi->hwk", a, mean_g)
    return a, b


def guided_filter(guide: np.ndarray, target: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter of ``target`` ``(H, W, K)`` with colour ``guide``."""
    a, b = affine_fit(guide, target, radius, eps)
    return apply_coefficients(*_box_coefficients(a, b, radius), guide)


def _box_coefficients(a: np.ndarray, b: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
    h, w, k, _ = a.shape
    return box_filter(a.reshape(h, w, 3 * k), radius).reshape(h, w, k, 3), box_filter(b, radius)


def domain_transform(
    values: np.ndarray, guide: np.ndarray, sigma_s: float, sigma_r: float, iterations: int = 3
) -> np.ndarray:
    """Edge-aware smoothing of ``values`` ``(H, W, K)`` steered by ``guide`` ``(H, W, 3)``.

    Gastal and Oliveira's recursive domain-transform filter (SIGGRAPH 2011): the image is
    smoothed along rows and columns with a first-order recursive filter whose feedback
    weakens across the guide's edges, so values spread over about ``sigma_s`` pixels inside
    regions but not across colour differences much larger than ``sigma_r``.
    """
    out = np.array(values, dtype=np.float32, copy=True)
    g = guide.astype(np.float32)
    ratio = sigma_s / sigma_r
    dx = 1.0 + ratio * np.abs(np.diff(g, axis=1)).sum(axis=2)  # (H, W-1)
    dy = 1.0 + ratio * np.abs(np.diff(g, axis=0)).sum(axis=2)  # (H-1, W)
    for i in range(iterations):
        sigma_i = sigma_s * np.sqrt(3.0) * 2.0 ** (iterations - i - 1) / np.sqrt(
            4.0**iterations - 1.0)
        a = np.float32(np.exp(-np.sqrt(2.0) / sigma_i))
        _recursive_pass(out, np.power(a, dx)[..., None])
        _recursive_pass(out.transpose(1, 0, 2), np.power(a, dy).T[..., None])
    return out


def _recursive_pass(f: np.ndarray, weights: np.ndarray) -> None:
    """In place, along axis 1: causal then anti-causal ``f[x] += w (f[x-1] - f[x])``."""
    width = f.shape[1]
    for x in range(1, width):
        f[:, x] += weights[:, x - 1] * (f[:, x - 1] - f[:, x])
    for x in range(width - 2, -1, -1):
        f[:, x] += weights[:, x] * (f[:, x + 1] - f[:, x])


def smooth_coefficients(
    guide: np.ndarray, a: np.ndarray, b: np.ndarray, spatial: float, sigma: float
) -> tuple[np.ndarray, np.ndarray]:
    """Edge-aware smoothing of coefficient maps with the content as guide.

    Args:
        guide: ``(H, W, 3)`` content.
        a: ``(H, W, K, 3)``; b: ``(H, W, K)`` coefficient maps.
        spatial: spatial extent (pixels) of the smoothing.
        sigma: edge sensitivity in [0, 1] colour units.
    """
    h, w, k, _ = a.shape
    stacked = np.concatenate([a.reshape(h, w, 3 * k), b], axis=2)
    smoothed = domain_transform(stacked, guide, spatial, sigma)
    return smoothed[..., : 3 * k].reshape(h, w, k, 3), smoothed[..., 3 * k :]


def apply_coefficients(a: np.ndarray, b: np.ndarray, content: np.ndarray,
                       encoding: Encoding | None = None) -> np.ndarray:
    """``A content + b`` per pixel; coefficients are upsampled to the content's size.

    Args:
        a: ``(h, w, K, 3)``; b: ``(h, w, K)`` coefficients at the working size.
        content: ``(H, W, 3)`` content at the output size (any size), in sRGB, or in
            ``encoding.source``'s profile.
        encoding: colour profiles of the content and of the output (see
            :class:`photostyle.files.icc.Encoding`); ``None``: both sRGB. The transforms act on
            the content in (extended) sRGB; the result is encoded in the output's profile.

    Returns:
        ``(H, W, K)`` float32 clipped to [0, 1], in the output's encoding; processed in row
        tiles so that memory stays a small multiple of the output image. The sum is taken
        as ``content + (A - I) content + b`` in float64, so that wherever the transforms
        are the identity the content comes back exactly, wide-gamut colours and 16-bit
        precision included.
    """
    h, w, k, _ = a.shape
    big_h, big_w = content.shape[:2]
    change = a - np.eye(k, 3, dtype=a.dtype)
    coeffs = np.concatenate([change.reshape(h, w, 3 * k), b], axis=2).astype(np.float32)
    out = np.empty((big_h, big_w, k), dtype=np.float32)
    if (big_h, big_w) == (h, w):
        for top in range(0, big_h, TILE_ROWS):
            rows = slice(top, top + TILE_ROWS)
            _apply_tile(coeffs[rows], content[rows], out[rows], k, encoding)
        return out
    # Bilinear sampling positions (pixel centres aligned), computed once per axis.
    ys = np.clip((np.arange(big_h) + 0.5) * h / big_h - 0.5, 0, h - 1).astype(np.float32)
    xs = np.clip((np.arange(big_w) + 0.5) * w / big_w - 0.5, 0, w - 1).astype(np.float32)
    channel_groups = [coeffs[..., i : i + 4] for i in range(0, coeffs.shape[2], 4)]
    for top in range(0, big_h, TILE_ROWS):
        bottom = min(big_h, top + TILE_ROWS)
        map_y = np.broadcast_to(ys[top:bottom, None], (bottom - top, big_w))
        map_x = np.broadcast_to(xs[None, :], (bottom - top, big_w))
        map_x = np.ascontiguousarray(map_x)
        map_y = np.ascontiguousarray(map_y)
        parts = [
            cv2.remap(np.ascontiguousarray(g), map_x, map_y, cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_REPLICATE).reshape(bottom - top, big_w, -1)
            for g in channel_groups
        ]
        tile = np.concatenate(parts, axis=2)
        _apply_tile(tile, content[top:bottom], out[top:bottom], k, encoding)
    return out


def _apply_tile(coeffs: np.ndarray, content: np.ndarray, out: np.ndarray, k: int,
                encoding: Encoding | None) -> None:
    """``out = encode(c + (A - I) c + b)`` with ``c = decode(content)``, clipped; ``coeffs``
    holds ``A - I`` (``3k`` maps) then ``b`` (``k``)."""
    c = content.astype(np.float64) if encoding is None else encoding.decode(content)
    result = np.empty((*c.shape[:2], k), np.float64)
    for ch in range(k):
        base = 3 * ch
        result[..., ch] = (coeffs[..., base] * c[..., 0] + coeffs[..., base + 1] * c[..., 1]
                           + coeffs[..., base + 2] * c[..., 2] + coeffs[..., 3 * k + ch])
        if ch < 3:
            result[..., ch] += c[..., ch]
    if encoding is not None:
        result = encoding.encode(result)
    np.clip(result, 0.0, 1.0, out=result)
    out[...] = result


def affine_coefficients(
    content: np.ndarray,
    stylised: np.ndarray,
    method: str = "local-affine",
    radius: int = 2,
    eps: float = 1e-4,
    sigma: float = 0.1,
    spatial: float = 8.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients ``A (H, W, 3, 3)``, ``b (H, W, 3)`` expressing ``stylised`` through
    ``content`` (both ``(H, W, 3)`` at the working size).

    ``method``: ``"local-affine"`` (fit, then edge-aware smoothing), ``"guided"`` (fit, then
    box averaging), or ``"none"`` (the fit alone, used only to carry an unsmoothed result
    to another resolution).
    """
    a, b = affine_fit(content, stylised, radius, eps)
    if method == "local-affine":
        return smooth_coefficients(content, a, b, spatial, sigma)
    if method == "guided":
        return _box_coefficients(a, b, radius)
    if method == "none":
        return a, b
    raise ValueError(f"unknown smoothing method {method!r}")


def finish(
    content_work: np.ndarray,
    stylised: np.ndarray,
    content_out: np.ndarray,
    method: str = "local-affine",
    radius: int = 2,
    eps: float = 1e-4,
    sigma: float = 0.1,
    spatial: float = 8.0,
    strength: float = 1.0,
    encoding: Encoding | None = None,
) -> np.ndarray:
    """Smooth the optimised image and produce it at the output resolution.

    Args:
        content_work: ``(h, w, 3)`` content at the working size (sRGB).
        stylised: ``(h, w, 3)`` optimised image (sRGB).
        content_out: ``(H, W, 3)`` content at the output size, in ``encoding.source``'s
            profile (sRGB without ``encoding``).
        method: ``"local-affine"``, ``"guided"`` or ``"none"``.
        strength: in [0, 1]: the transforms are scaled towards the identity
            (:func:`scale_towards_identity`); with ``"none"``, the output is blended with the
            content.
        encoding: the content's and the output's colour profiles (``None``: sRGB).

    Returns:
        ``(H, W, 3)`` float32 in [0, 1], in the output's encoding. With ``"none"`` the
        optimised image is returned as it is, resized (bicubic) if the output size
        differs. Strength 0 returns the content (re-encoded in the output's profile).
    """
    if method == "none":
        return render_plain(stylised, content_out, strength, encoding)
    a, b = affine_coefficients(content_work, stylised, method, radius, eps, sigma, spatial)
    return render_result(a, b, stylised, content_out, method, strength, encoding)


def render_result(a: np.ndarray, b: np.ndarray, stylised: np.ndarray, content_out: np.ndarray,
                  method: str, strength: float = 1.0, encoding: Encoding | None = None
                  ) -> np.ndarray:
    """The output of :func:`finish` from coefficients already fitted with ``method``:
    :func:`render` of ``a``, ``b``, or with ``"none"`` the optimised image itself
    (:func:`render_plain`)."""
    if method == "none":
        return render_plain(stylised, content_out, strength, encoding)
    return render(a, b, content_out, strength, encoding)


def render(a: np.ndarray, b: np.ndarray, content_out: np.ndarray, strength: float = 1.0,
           encoding: Encoding | None = None) -> np.ndarray:
    """The look at any strength and size: :func:`apply_coefficients` of the transforms
    ``a`` ``(h, w, 3, 3)``, ``b`` ``(h, w, 3)`` scaled by :func:`scale_towards_identity`."""
    if strength != 1.0:
        a, b = scale_towards_identity(a, b, strength)
    return apply_coefficients(a, b, content_out, encoding)


def render_plain(stylised: np.ndarray, content_out: np.ndarray, strength: float = 1.0,
                 encoding: Encoding | None = None) -> np.ndarray:
    """The optimised image ``(h, w, 3)`` (sRGB) itself at the output size, blended with the
    content ``(H, W, 3)`` at ``strength`` and encoded like :func:`render`'s output."""
    if content_out.shape[:2] == stylised.shape[:2]:
        out = stylised.astype(np.float32, copy=True)
    else:
        from photostyle.files.images import resize

        out = resize(stylised.astype(np.float32), content_out.shape[:2])
    if encoding is None:
        return blend(content_out, out, strength)
    result = np.empty(content_out.shape, np.float32)
    for top in range(0, out.shape[0], TILE_ROWS):
        rows = slice(top, top + TILE_ROWS)
        c = encoding.decode(content_out[rows])
        mixed = encoding.encode(c + strength * (out[rows] - c))
        result[rows] = np.clip(mixed, 0.0, 1.0)
    return result


def blend(content: np.ndarray, result: np.ndarray, strength: float) -> np.ndarray:
    """``content + strength (result - content)``, float32 in [0, 1] (both ``(H, W, 3)``);
    strength 1 returns ``result`` as float32, 0 the content."""
    if strength == 1.0:
        return result.astype(np.float32, copy=False)
    c = content.astype(np.float32, copy=False)
    return np.clip(c + np.float32(strength) * (result.astype(np.float32) - c), 0.0, 1.0)


def scale_towards_identity(a: np.ndarray, b: np.ndarray, strength: float
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Part of a look: ``A' = I + s (A - I)``, ``b' = s b``.

    Args:
        a: ``(H, W, 3, 3)`` and b: ``(H, W, 3)`` local affine coefficients (output channel
            first: ``out_k = sum_j A[k, j] content_j + b_k``).
        strength: ``s`` in [0, 1]; 0 gives the identity (the content), 1 the coefficients.

    Returns:
        New arrays; each pixel's transform is still affine in the content, so a partial look
        is as photorealistic as the whole one.
    """
    eye = np.eye(a.shape[-1], dtype=a.dtype)
    return eye + strength * (a - eye), strength * b
