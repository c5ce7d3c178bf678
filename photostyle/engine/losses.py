"""Loss terms as pure functions of tensors.

Normalisation (why the paper's weights 5 / 100 / 1e-3 work at any size and with any VGG19
weights):

* **content**: ``||F - P||^2 / ||P||^2``, the relative squared error of the output's
  features ``F`` against the content's ``P`` at one layer. Independent of the layer size
  and of the scale of the network's activations.
* **style** (augmented, masked): for layer ``l`` and label ``c`` with soft mask ``M`` at
  that layer's resolution, the Gram matrix
  ``G_c(F) = (F * M)(F * M)^T / sum_p M_p^2``, i.e. the mean outer product of the features
  over the region (a small region counts as much per pixel as a large one). Per layer,
  ``sum_c w_c ||G_c(F_out) - G_c(F_style)||^2 / ||G_c(F_style)||^2`` where ``w_c`` is the
  region's share of the labelled content pixels (the shares sum to 1); the style loss is the
  mean over style layers (so adding layers does not scale the term). With one label
  covering every pixel this is exactly the relative error of plain Gram matrices.
* **total variation**: mean over pixels of squared differences to the right and below
  neighbours of the ``[0, 1]`` image.
* **matting** (see :mod:`photostyle.matting`): ``(1/N) sum_c V_c^T M V_c``.
* **histogram** (``hist_weight``, off by default; Wilmot, Risser and Barnes 2017), per
  region: the output's features in each label's region are histogram-matched, channel by
  channel, to the style region's (:func:`match_histogram`), and the squared distance to that
  target is taken, relative to the style region's mean squared feature, weighted by the
  region's share and averaged over ``hist_layers``. Gram matrices match second moments
  only; this keeps each feature's whole distribution (mean and spread included).
* **flat** (``flat_weight``, on by default since issue 17): like total variation, but of the colour
  *change* ``x - content`` and only between neighbours that are both flat in the content
  (:func:`photostyle.engine.metrics.flat_mask`): where the content is flat, the matting term has no
  grip (any output is affine on a window of constant colour), and this term keeps the change
  there smooth; at edges and in texture it is silent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

_EPS = 1e-12


def gram(features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Masked Gram matrix of one feature map.

    Args:
        features: ``(C, H, W)`` or ``(1, C, H, W)`` activations.
        mask: ``(H, W)`` weights in [0, 1], or None for all ones.

    Returns:
        ``(C, C)``: ``(F M)(F M)^T / sum(M^2)``, with ``F`` flattened to ``(C, H*W)``.
    """
    f = features.reshape(features.shape[-3], -1)
    if mask is None:
        return f @ f.T / f.shape[1]
    w = mask.reshape(1, -1)
    fw = f * w
    return fw @ fw.T / (w.square().sum() + _EPS)


def masked_grams(features: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Gram matrices of one feature map under several masks.

    Args:
        features: ``(C, H, W)`` or ``(1, C, H, W)``.
        masks: ``(L, H, W)`` soft masks in [0, 1].

    Returns:
        ``(L, C, C)``; entry ``c`` equals ``gram(features, masks[c])``.
    """
    return torch.stack([gram(features, m) for m in masks])


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Relative squared error ``||F - P||^2 / ||P||^2`` (scalar)."""
    return (features - target).square().sum() / (target.square().sum() + _EPS)


@dataclass
class StyleTarget:
    """What the style loss compares against at one layer.

    Attributes:
        layer: VGG19 layer name.
        grams: ``(L, C, C)`` masked Gram matrices of the style image, one per label.
        output_masks: ``(L, H_l, W_l)`` the labels' masks on the output (the content's
            masks) at this layer's resolution.
        weights: ``(L,)`` each label's share of the labelled content pixels (sums to 1).
    """

    layer: str
    grams: torch.Tensor
    output_masks: torch.Tensor
    weights: torch.Tensor

    def __post_init__(self) -> None:
        self.norms = self.grams.square().sum(dim=(1, 2)) + _EPS
        # Each label's Gram only needs the pixels its mask touches: gather them once, so
        # the cost is about one Gram over the image instead of one per label. A label whose
        # mask is 1 everywhere (one label, no segmentation) needs no gathering at all.
        flat = self.output_masks.reshape(self.output_masks.shape[0], -1)
        self.pixels: list[torch.Tensor | None] = []
        self.pixel_weights: list[torch.Tensor | None] = []
        self.sizes: list[int] = []
        for m in flat:
            if bool((m == 1).all()):
                self.pixels.append(None)
                self.pixel_weights.append(None)
                self.sizes.append(m.numel())
            else:
                idx = torch.nonzero(m > 0).squeeze(1)
                self.pixels.append(idx)
                self.pixel_weights.append(m[idx])
                self.sizes.append(idx.numel())
        self.denominators = [
            (w.square().sum() if w is not None else flat.new_tensor(float(n))) + _EPS
            for w, n in zip(self.pixel_weights, self.sizes, strict=True)]
        # The labels with pixels, and what the loss compares for them: fixed per target,
        # so built once here rather than at every evaluation.
        self.active = [c for c, n in enumerate(self.sizes) if n > 0]
        chosen = torch.tensor(self.active, dtype=torch.long, device=self.grams.device)
        self.active_grams = self.grams[chosen]
        self.active_norms = self.norms[chosen]
        self.active_weights = self.weights.to(self.grams.device)[chosen]


class _RegionGrams(torch.autograd.Function):
    """The masked Gram matrices of one layer's features, one per label with pixels, with a
    hand-written backward.

    Autograd's own backward of ``(F[:, idx] * w) @ (F[:, idx] * w)^T`` takes two matrix
    products and an accumulating scatter; the Gram's symmetry needs one product,
    ``dF_c = ((dG_c + dG_c^T) / d_c) F_c w``, and the scatters go into one gradient buffer.
    The same values as autograd's to rounding (a test checks both against each other and
    against finite differences); first derivatives only.
    """

    @staticmethod
    def forward(ctx, f: torch.Tensor, target: StyleTarget,  # type: ignore[override]
                labels: list[int]) -> torch.Tensor:
        regions = []
        for c in labels:
            idx, w = target.pixels[c], target.pixel_weights[c]
            regions.append(f if idx is None or w is None else f.index_select(1, idx) * w)
        ctx.save_for_backward(f, *regions)
        ctx.target, ctx.labels = target, labels
        return torch.stack([fw @ fw.T / target.denominators[c]
                            for c, fw in zip(labels, regions, strict=True)])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, d_grams: torch.Tensor) -> tuple[torch.Tensor, None, None]:  # type: ignore[override]
        f, *regions = ctx.saved_tensors
        target = ctx.target
        d_f = torch.zeros_like(f)
        for k, (c, fw) in enumerate(zip(ctx.labels, regions, strict=True)):
            sym = (d_grams[k] + d_grams[k].T) / target.denominators[c]
            d_fw = sym @ fw
            idx, w = target.pixels[c], target.pixel_weights[c]
            if idx is None or w is None:
                d_f += d_fw
            else:
                d_f.index_add_(1, idx, d_fw * w)
        return d_f, None, None


def style_layer_loss(features: torch.Tensor, target: StyleTarget) -> torch.Tensor:
    """``sum_c w_c ||G_c(F) - G_c^style||^2 / ||G_c^style||^2`` for one layer (scalar).

    Args:
        features: ``(1, C, H_l, W_l)`` output activations at ``target.layer``.
        target: the style target of that layer.
    """
    if features.shape[-2:] != target.output_masks.shape[-2:]:
        raise ValueError(
            f"{target.layer}: mask size {tuple(target.output_masks.shape[-2:])} does not "
            f"match features {tuple(features.shape[-2:])}"
        )
    if not target.active:
        return features.new_zeros(())
    f = features.reshape(features.shape[-3], -1)
    grams = _RegionGrams.apply(f, target, target.active)
    errors = (grams - target.active_grams).square().sum(dim=(1, 2)) / target.active_norms
    return (target.active_weights * errors).sum()


def style_loss(features: dict[str, torch.Tensor], targets: list[StyleTarget]) -> torch.Tensor:
    """Mean of :func:`style_layer_loss` over the style layers (scalar)."""
    losses = [style_layer_loss(features[t.layer], t) for t in targets]
    return torch.stack(losses).mean()


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Total variation: mean squared neighbour differences of ``(B, C, H, W)`` (scalar)."""
    dy = image[..., 1:, :] - image[..., :-1, :]
    dx = image[..., :, 1:] - image[..., :, :-1]
    zero = image.new_zeros(())
    return (dy.square().mean() if dy.numel() else zero) + (
        dx.square().mean() if dx.numel() else zero
    )


def flat_change_loss(image: torch.Tensor, content: torch.Tensor,
                     flat: torch.Tensor) -> torch.Tensor:
    """Squared neighbour differences of the change ``image - content`` where both
    neighbours are flat (scalar).

    Args:
        image: ``(B, C, H, W)`` output in [0, 1].
        content: ``(B, C, H, W)`` content at the same size.
        flat: ``(1, 1, H, W)`` or ``(H, W)`` weights in [0, 1] (1: flat in the content);
            a pair of neighbours counts with the smaller of their two weights.

    Returns:
        ``sum_pairs w (d_p - d_q)^2 / (pixels x channels)`` over horizontal and vertical
        neighbour pairs ``(p, q)``, ``d = image - content``: the same normalisation as
        :func:`tv_loss`, so 1 for 1 it is total variation restricted to flat regions.
    """
    change = image - content
    weight = flat.reshape(1, 1, *flat.shape[-2:]).to(image)
    wy = torch.minimum(weight[..., 1:, :], weight[..., :-1, :])
    wx = torch.minimum(weight[..., :, 1:], weight[..., :, :-1])
    dy = change[..., 1:, :] - change[..., :-1, :]
    dx = change[..., :, 1:] - change[..., :, :-1]
    zero = image.new_zeros(())
    return (((wy * dy.square()).mean() if dy.numel() else zero)
            + ((wx * dx.square()).mean() if dx.numel() else zero))


def match_histogram(values: torch.Tensor, reference_sorted: torch.Tensor) -> torch.Tensor:
    """Histogram matching, channel by channel: each value replaced by the reference's value
    at the same quantile.

    Args:
        values: ``(C, N)`` samples per channel.
        reference_sorted: ``(C, M)`` the reference's samples, sorted along dim 1.

    Returns:
        ``(C, N)``: the ``k``-th smallest value of channel ``c`` becomes the reference's
        quantile ``(k + 1/2) / N`` (linear between the reference's order statistics, which
        sit at quantiles ``(j + 1/2) / M``). Not differentiable: a target, not a layer.
    """
    n, m = values.shape[1], reference_sorted.shape[1]
    position = ((torch.arange(n, device=values.device, dtype=torch.float64) + 0.5) * m / n
                - 0.5).clamp(0, m - 1)
    low = position.floor().long()
    high = (low + 1).clamp(max=m - 1)
    frac = (position - low).to(reference_sorted.dtype)
    quantiles = reference_sorted[:, low] * (1 - frac) + reference_sorted[:, high] * frac
    out = torch.empty_like(values)
    out.scatter_(1, _argsort_rows(values), quantiles.to(values.dtype))
    return out


def _argsort_rows(values: torch.Tensor) -> torch.Tensor:
    """``values.argsort(dim=1)`` (``(C, N)`` -> int64 indices); on the CPU through NumPy,
    whose vectorised sort is 2-5x faster here than PyTorch's (the histogram loss sorts
    every region's features at every step). Equal values may come out in another order,
    which changes neither the loss nor, where the equal values are a ReLU's zeros, its
    gradient."""
    if values.device.type == "cpu" and not values.requires_grad:
        return torch.from_numpy(np.argsort(values.contiguous().numpy(), axis=1))
    return values.argsort(dim=1)


@dataclass
class HistogramTarget:
    """What the histogram loss compares against at one layer.

    Attributes:
        layer: VGG19 layer name.
        sorted_style: per label, ``(C, M_c)`` the style region's features sorted per channel
            (pixels where the style's mask exceeds 1/2), or ``None`` when it has none.
        pixels: per label, the flat indices of the output's pixels in the region (where the
            content's mask exceeds 1/2) at this layer's resolution.
        weights: ``(L,)`` each label's share of the labelled content pixels (sums to 1).
    """

    layer: str
    sorted_style: list[torch.Tensor | None]
    pixels: list[torch.Tensor]
    weights: torch.Tensor

    def __post_init__(self) -> None:
        self.norms = [s.square().mean() + _EPS if s is not None else None
                      for s in self.sorted_style]

    @classmethod
    def build(cls, layer: str, style_features: torch.Tensor, style_masks: torch.Tensor,
              output_masks: torch.Tensor, weights: torch.Tensor) -> HistogramTarget:
        """From the style's activations ``(1, C, Hs, Ws)`` and the masks ``(L, Hs, Ws)``
        (style) and ``(L, H, W)`` (output) at this layer's resolution."""
        f = style_features.reshape(style_features.shape[-3], -1)
        sorted_style: list[torch.Tensor | None] = []
        for mask in style_masks.reshape(style_masks.shape[0], -1):
            idx = torch.nonzero(mask > 0.5).squeeze(1)
            sorted_style.append(f[:, idx].sort(dim=1).values if idx.numel() else None)
        pixels = [torch.nonzero(m > 0.5).squeeze(1)
                  for m in output_masks.reshape(output_masks.shape[0], -1)]
        return cls(layer, sorted_style, pixels, weights)


def histogram_layer_loss(features: torch.Tensor, target: HistogramTarget) -> torch.Tensor:
    """``sum_c w_c mean((F_c - H(F_c))^2) / mean(S_c^2)`` for one layer (scalar): ``F_c``
    the output's features in region ``c``, ``H`` their histogram matched to the style
    region's ``S_c`` channel by channel (:func:`match_histogram`, held constant), so the
    gradient is ``2 w_c (F_c - H(F_c)) / (n mean(S_c^2))``.

    Args:
        features: ``(1, C, H_l, W_l)`` output activations at ``target.layer``.
    """
    f = features.reshape(features.shape[-3], -1)
    total = features.new_zeros(())
    for c, reference in enumerate(target.sorted_style):
        idx = target.pixels[c]
        if reference is None or idx.numel() == 0:
            continue
        region = f[:, idx]
        matched = match_histogram(region.detach(), reference)
        norm = target.norms[c]
        assert norm is not None
        total = total + target.weights[c] * (region - matched).square().mean() / norm
    return total


def histogram_loss(features: dict[str, torch.Tensor],
                   targets: list[HistogramTarget]) -> torch.Tensor:
    """Mean of :func:`histogram_layer_loss` over the histogram layers (scalar)."""
    return torch.stack([histogram_layer_loss(features[t.layer], t) for t in targets]).mean()
