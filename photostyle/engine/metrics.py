"""Quality measures that need no pretrained network (the same on every machine).

No single measure ranks methods: the identity image has perfect structure and
photorealism, and painting the style's texture in improves the colour distance. Read them
together.

* **style distance** (:func:`style_distance`): per matched label, the distance between the
  CIELAB colour distributions of the output's region and the style's region, sliced
  Wasserstein (W1 over 64 fixed random directions) and Fréchet (Gaussian) distance,
  area-weighted by the region's share of the content; also as the fraction of the
  content-to-style distance that the output closed.
* **structure** (:func:`gradient_ssim`): SSIM between the gradient-magnitude maps of the
  content and the output (luminance, Sobel), 7x7 Gaussian windows.
* **photorealism** (:func:`local_affine_residual`): how far each 3x3 window of the output is
  from an affine function of the content's colours: the mean squared residual of a lightly
  regularised per-window fit, divided by the output's variance, times 1000 (scale-free).
* **colour painted into flat regions** (:func:`flat_paint`): where the content is flat (a
  plain wall, a studio background, a clear sky), how much the output's change of colour
  varies beyond a smooth trend, in CIELAB chroma units. The local affine residual cannot see
  this (on a window of constant colour any output is affine), and the style distance
  rewards it (a flat region that takes on the spread of the style region's colours is
  closer to them). An unchanged content scores 0, so it too is read with the style distance.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from photostyle.engine.masks import ASPECT_SLACK, MaskSet
from photostyle.engine.smooth import affine_fit
from photostyle.errors import InputError

N_DIRECTIONS = 64
N_QUANTILES = 256
_DIRECTIONS = np.random.default_rng(0).standard_normal((N_DIRECTIONS, 3))
_DIRECTIONS /= np.linalg.norm(_DIRECTIONS, axis=1, keepdims=True)


def to_lab(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` RGB in [0, 1] to CIELAB (L in [0, 100])."""
    return cv2.cvtColor(np.ascontiguousarray(image, dtype=np.float32), cv2.COLOR_RGB2Lab)


def sliced_wasserstein(a: np.ndarray, b: np.ndarray) -> float:
    """Sliced W1 distance between point sets ``(N, 3)`` and ``(M, 3)``."""
    q = (np.arange(N_QUANTILES) + 0.5) / N_QUANTILES
    pa, pb = a.astype(np.float64) @ _DIRECTIONS.T, b.astype(np.float64) @ _DIRECTIONS.T
    qa, qb = np.quantile(pa, q, axis=0), np.quantile(pb, q, axis=0)
    return float(np.abs(qa - qb).mean())


def sliced_quantiles(points: np.ndarray) -> np.ndarray:
    """The quantiles :func:`sliced_wasserstein` compares, ``(N_QUANTILES, N_DIRECTIONS)``,
    of a point set ``(N, 3)``: kept for a target compared many times (a video's style),
    computed by one sort per direction (as ``np.quantile``'s linear method, faster)."""
    q = (np.arange(N_QUANTILES) + 0.5) / N_QUANTILES
    proj = np.sort(points.astype(np.float64) @ _DIRECTIONS.T, axis=0)
    position = q * (len(proj) - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, len(proj) - 1)
    frac = (position - low)[:, None]
    return proj[low] * (1 - frac) + proj[high] * frac


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to ``(N, 3)`` and ``(M, 3)`` (sqrt form)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = np.cov(a.T), np.cov(b.T)
    w, v = np.linalg.eigh(ca)
    ca_half = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.linalg.eigvalsh(ca_half @ cb @ ca_half)
    value = np.sum((mu_a - mu_b) ** 2) + np.trace(ca) + np.trace(cb) - 2 * np.sqrt(
        np.clip(cross, 0, None)).sum()
    return float(np.sqrt(max(value, 0.0)))


def style_distance(
    output: np.ndarray, style: np.ndarray, masks: MaskSet, content: np.ndarray | None = None
) -> dict[str, Any]:
    """Area-weighted per-label colour distances between ``output`` and ``style`` in CIELAB.

    Args:
        output: ``(H, W, 3)``; style: ``(Hs, Ws, 3)``; masks: labels of both (resized here).
        content: if given, also the content's distance and the fraction closed.
    """
    out_lab, sty_lab = to_lab(output).reshape(-1, 3), to_lab(style).reshape(-1, 3)
    c_lab = to_lab(content).reshape(-1, 3) if content is not None else None
    o_masks = masks.content_masks(output.shape[:2]).numpy().reshape(len(masks.labels), -1)
    s_masks = masks.style_masks(style.shape[:2]).numpy().reshape(len(masks.labels), -1)
    weights = masks.content_weights().numpy()
    per_label: dict[str, Any] = {}
    totals = {"sw": 0.0, "frechet": 0.0, "content_sw": 0.0}
    used = 0.0
    for i, name in enumerate(masks.labels):
        o_sel, s_sel = o_masks[i] > 0.5, s_masks[i] > 0.5
        if o_sel.sum() < 8 or s_sel.sum() < 8:
            continue
        entry: dict[str, Any] = {
                 "sw": sliced_wasserstein(out_lab[o_sel], sty_lab[s_sel]),
                 "frechet": frechet(out_lab[o_sel], sty_lab[s_sel]), "weight": float(weights[i])}
        entry["output_mean"] = [round(float(v), 2) for v in out_lab[o_sel].mean(0)]
        entry["style_mean"] = [round(float(v), 2) for v in sty_lab[s_sel].mean(0)]
        if c_lab is not None:
            entry["content_sw"] = sliced_wasserstein(c_lab[o_sel], sty_lab[s_sel])
            entry["content_mean"] = [round(float(v), 2) for v in c_lab[o_sel].mean(0)]
        per_label[name] = entry
        used += weights[i]
        for key in totals:
            totals[key] += weights[i] * float(entry.get(key, 0.0))
    used = max(used, 1e-12)
    result: dict[str, Any] = {"sw": float(totals["sw"] / used),
                              "frechet": float(totals["frechet"] / used),
                              "labels": per_label}
    if c_lab is not None:
        result["content_sw"] = float(totals["content_sw"] / used)
        result["closed"] = 1.0 - result["sw"] / max(result["content_sw"], 1e-12)
    return result


def _gradient_magnitude(image: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(np.ascontiguousarray(image, dtype=np.float32), cv2.COLOR_RGB2GRAY)
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    return np.sqrt(gx * gx + gy * gy)


def gradient_ssim(content: np.ndarray, output: np.ndarray) -> float:
    """SSIM between gradient-magnitude maps of ``content`` and ``output`` (same size)."""
    if content.shape != output.shape:
        output = cv2.resize(output, content.shape[1::-1], interpolation=cv2.INTER_AREA)
    a, b = _gradient_magnitude(content), _gradient_magnitude(output)
    data_range = max(float(a.max()), float(b.max()), 1e-6)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (7, 7), 1.5, borderType=cv2.BORDER_REFLECT_101)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    ssim = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(ssim.mean())


def local_affine_residual(content: np.ndarray, output: np.ndarray, radius: int = 1,
                          eps: float = 1e-5) -> float:
    """Mean squared residual of per-window affine fits of ``output`` on ``content``,
    over the output's variance, x1000."""
    if content.shape != output.shape:
        output = cv2.resize(output, content.shape[1::-1], interpolation=cv2.INTER_AREA)
    a, b = affine_fit(content, output, radius, eps)
    fit = np.einsum("hwki,hwi->hwk", a, content.astype(np.float32)) + b
    return float(1000.0 * np.mean((fit - output) ** 2) / max(float(np.var(output)), 1e-12))


def check_output_shape(
    content_shape: tuple[int, ...], output_shape: tuple[int, ...], source: str = "output"
) -> str | None:
    """Check that an output can be scored against its content.

    Args:
        content_shape, output_shape: ``(H, W, ...)`` of the two images.
        source: the output's name in messages.

    Returns:
        ``None`` when the sizes are equal, else a one-line note that the output is scored
        resized to the content's size.

    Raises:
        InputError: the aspect ratios differ (more than 2 % and more than 2 px): the output
            is of another image, or cropped, and its scores would mean nothing.
    """
    (ch, cw), (oh, ow) = content_shape[:2], output_shape[:2]
    if (ch, cw) == (oh, ow):
        return None
    ratio = (ow / oh) / (cw / ch)
    if abs(ratio - 1.0) > ASPECT_SLACK and (abs(round(oh * cw / ow) - ch) > 2):
        raise InputError(f"{source}: output is {ow}x{oh} but the content is {cw}x{ch} (aspect "
                         f"{ow / oh:.3f} vs {cw / ch:.3f}); is it the output of another image, "
                         "or cropped?")
    return (f"{source}: output is {ow}x{oh}, the content {cw}x{ch}; the output is scored "
            "resized to the content's size")


#: Window (Gaussian sigma, px) of the content's local colour spread that decides flatness.
FLAT_WINDOW_SIGMA = 3.0
#: A pixel is flat where the content's local colour spread (the root of the summed L*a*b*
#: variances in that window) is at most this many CIELAB units: below a just-noticeable
#: difference (about 2.3).
FLAT_SPREAD = 2.0
#: Scale of the smooth trend (Gaussian sigma, as a fraction of the long side: 28 px at
#: 700 px) that a legitimate change of colour may follow across a flat region (a sky's
#: gradient, a vignette); blotches and patches are smaller than this.
FLAT_TREND_FRACTION = 0.04
#: Fewest flat pixels a label must have to take part.
FLAT_MIN_PIXELS = 64


def flat_mask(content: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool: where ``content`` ``(H, W, 3)`` in [0, 1] is flat (see
    :data:`FLAT_SPREAD`)."""
    return _flat_mask_lab(to_lab(content))


def _flat_mask_lab(lab: np.ndarray) -> np.ndarray:
    mean = cv2.GaussianBlur(lab, (0, 0), FLAT_WINDOW_SIGMA, borderType=cv2.BORDER_REFLECT)
    square = cv2.GaussianBlur(lab * lab, (0, 0), FLAT_WINDOW_SIGMA,
                              borderType=cv2.BORDER_REFLECT)
    spread = np.sqrt(np.clip(square - mean * mean, 0.0, None).sum(axis=2))
    return spread <= FLAT_SPREAD


def flat_paint(content: np.ndarray, output: np.ndarray, labels: np.ndarray | None = None,
               ) -> float:
    """Colour painted into the content's flat regions (CIELAB a*b* units; lower is better).

    The change of colour ``d = ab(output) - ab(content)`` is compared, on the flat pixels of
    each label, with its smooth trend there: the Gaussian-weighted mean of ``d`` over the
    flat pixels of the same label (sigma :data:`FLAT_TREND_FRACTION` of the long side). The
    measure is the root mean square of the difference over all flat pixels: 0 for an
    unchanged content, a uniform recolouring or a smooth gradient; large for patches of
    other colours, mottling, halos and streaks. Only chroma counts: a region whose contrast
    the transfer raises (a gain on the content's own fine texture) is not painting.

    Args:
        content, output: ``(H, W, 3)`` in [0, 1] (the output is resized to the content).
        labels: ``(H, W)`` integer region of each content pixel (-1 allowed); trends do not
            cross region borders. ``None``: one region.

    Returns:
        The measure, or 0.0 when the content has no flat region.
    """
    if content.shape != output.shape:
        output = cv2.resize(output, content.shape[1::-1], interpolation=cv2.INTER_AREA)
    content_lab = to_lab(content)
    flat = _flat_mask_lab(content_lab)
    change = (to_lab(output) - content_lab)[..., 1:]
    if labels is None:
        labels = np.zeros(content.shape[:2], np.int32)
    elif labels.shape != content.shape[:2]:
        labels = cv2.resize(labels.astype(np.int32), content.shape[1::-1],
                            interpolation=cv2.INTER_NEAREST)
    sigma = FLAT_TREND_FRACTION * max(content.shape[:2])
    total, count = 0.0, 0
    for label in np.unique(labels):
        weight = (flat & (labels == label)).astype(np.float32)
        n = int(weight.sum())
        if n < FLAT_MIN_PIXELS:
            continue
        trend = cv2.GaussianBlur(np.ascontiguousarray(change * weight[..., None]), (0, 0),
                                 sigma, borderType=cv2.BORDER_REFLECT)
        norm = cv2.GaussianBlur(weight, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
        residual = (change - trend / np.maximum(norm, 1e-6)[..., None]) * weight[..., None]
        total += float((residual.astype(np.float64) ** 2).sum())
        count += n
    return float(np.sqrt(total / count)) if count else 0.0


def evaluate_images(
    content: np.ndarray, style: np.ndarray, output: np.ndarray, masks: MaskSet | None = None
) -> dict[str, Any]:
    """All measures for one result (images ``(H, W, 3)`` in [0, 1]).

    An output of another size than the content is resized to it first; one of another
    aspect ratio is refused (see :func:`check_output_shape`).
    """
    check_output_shape(content.shape, output.shape)
    if masks is None:
        masks = MaskSet.single(content.shape[:2], style.shape[:2])
    if output.shape != content.shape:
        output = cv2.resize(output, content.shape[1::-1], interpolation=cv2.INTER_AREA)
    dist = style_distance(output, style, masks, content)
    return {
        "style_sw": dist["sw"],
        "style_frechet": dist["frechet"],
        "style_closed": dist["closed"],
        "content_sw": dist["content_sw"],
        "structure_ssim": gradient_ssim(content, output),
        "affine_residual": local_affine_residual(content, output),
        "flat_paint": flat_paint(content, output, masks.content_ids),
        "labels": dist["labels"],
    }
