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
* **flat** (``flat_weight``, on by default since issue 17): like total variation, but of the colour
  *change* ``x - content`` and only between neighbours that are both flat in the content
  (:func:`photostyle.metrics.flat_mask`): where the content is flat, the matting term has no
  grip (any output is affine on a window of constant colour), and this term keeps the change
  there smooth; at edges and in texture it is silent.
"""

from __future__ import annotations

from dataclasses import dataclass

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
        # the cost is about one Gram over the image instead of one per label.
        flat = self.output_masks.reshape(self.output_masks.shape[0], -1)
        self.pixels = [torch.nonzero(m > 0).squeeze(1) for m in flat]
        self.pixel_weights = [m[idx] for m, idx in zip(flat, self.pixels, strict=True)]
        self.denominators = [w.square().sum() + _EPS for w in self.pixel_weights]


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
    f = features.reshape(features.shape[-3], -1)
    total = features.new_zeros(())
    for c in range(target.grams.shape[0]):
        if target.pixels[c].numel() == 0:
            continue
        fw = f[:, target.pixels[c]] * target.pixel_weights[c]
        g = fw @ fw.T / target.denominators[c]
        total = total + target.weights[c] * (g - target.grams[c]).square().sum() / target.norms[c]
    return total


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
