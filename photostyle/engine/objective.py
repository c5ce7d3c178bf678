"""The objective of one level of the coarse-to-fine optimisation: the content, masked Gram
style, histogram, matting and total-variation terms, all read from one pass of the network."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from photostyle.engine import losses
from photostyle.engine.config import TransferConfig
from photostyle.engine.masks import MaskSet, layer_masks
from photostyle.engine.matting import MattingTerm
from photostyle.engine.network import VGGFeatures
from photostyle.engine.report import Timer
from photostyle.files.images import (
    fit_long_side,
    resize,
)

log = logging.getLogger(__name__)


def _to_tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].to(device)


def _to_array(image: torch.Tensor) -> np.ndarray:
    return image[0].detach().cpu().numpy().transpose(1, 2, 0).astype(np.float32)


class LevelProblem:
    """Everything the objective needs at one pyramid level, computed once.

    Args:
        extractor: the network.
        content: ``(1, 3, h, w)`` content at this level, on the device.
        style: ``(1, 3, hs, ws)`` style at this level.
        masks: the label masks.
        config: settings.
        content_np: ``(h, w, 3)`` content as an array (for the Laplacian).
        timer: stage timer.
        cache: optional dictionary shared across calls (ablations): matting Laplacians are
            kept there, keyed by the content's pixels and the Laplacian's settings.
    """

    def __init__(
        self,
        extractor: VGGFeatures,
        content: torch.Tensor,
        style: torch.Tensor,
        masks: MaskSet,
        config: TransferConfig,
        content_np: np.ndarray,
        timer: Timer,
        cache: dict[Any, Any] | None = None,
    ) -> None:
        self.extractor = extractor
        self.config = config
        #: ``variable="grid"`` with ``grid_regions``: each pixel's region ``(1, 1, h, w)``
        #: and their number (:func:`photostyle.engine.grid.region_map`); set by the pipeline.
        self.regions: torch.Tensor | None = None
        self.blocks = 1
        self.weights = {"content": config.content_weight, "style": config.style_weight,
                        "tv": config.tv_weight, "flat": config.flat_weight,
                        "hist": config.hist_weight, "matting": config.matting_weight}
        self.content = content
        self.flat: torch.Tensor | None = None
        if config.flat_weight > 0:
            from photostyle.engine.metrics import flat_mask

            self.flat = torch.from_numpy(flat_mask(content_np).astype(np.float32)).to(
                content.device)
        device = content.device
        with timer.stage("targets"), torch.no_grad():
            content_feats = extractor(content)
            style_feats = extractor(style)
            self.content_target = content_feats[config.content_layer].detach()
            c_size = (int(content.shape[-2]), int(content.shape[-1]))
            s_size = (int(style.shape[-2]), int(style.shape[-1]))
            c_masks = layer_masks(masks.content_masks(c_size), content_feats)
            s_masks = layer_masks(masks.style_masks(s_size), style_feats)
            weights = masks.content_weights().to(device)
            self.style_targets = []
            for layer in config.style_layers:
                sm = s_masks[layer].to(device)
                grams = losses.masked_grams(style_feats[layer][0], sm)
                self._warn_vanished(layer, c_masks[layer], sm, masks.labels)
                self.style_targets.append(
                    losses.StyleTarget(layer, grams, c_masks[layer].to(device), weights)
                )
            self.hist_targets = [
                losses.HistogramTarget.build(layer, style_feats[layer],
                                             s_masks[layer].to(device),
                                             c_masks[layer].to(device), weights)
                for layer in (config.hist_layers if config.hist_weight > 0 else ())]
        self.matting: MattingTerm | None = None
        if config.matting_weight > 0:
            with timer.stage("laplacian"):
                key = ("laplacian", _fingerprint(content_np), config.matting_radius,
                       config.matting_eps, str(device))
                self.matting = cache.get(key) if cache is not None else None
                if self.matting is None:
                    self.matting = MattingTerm(
                        content_np, config.matting_radius, config.matting_eps, str(device)
                    )
                    if cache is not None:
                        cache[key] = self.matting

    @staticmethod
    def _warn_vanished(
        layer: str, content: torch.Tensor, style: torch.Tensor, labels: list[str]
    ) -> None:
        for i, name in enumerate(labels):
            if float(content[i].sum()) == 0.0 or float(style[i].sum()) == 0.0:
                log.warning("label %s covers no pixel at layer %s: it adds no style loss there",
                            name, layer)

    def objective(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Weighted sum of the loss terms at ``x`` ``(1, 3, h, w)``; one network pass."""
        cfg = self.config
        feats = self.extractor(x)
        terms: dict[str, torch.Tensor] = {}
        if cfg.content_weight > 0:
            terms["content"] = losses.content_loss(feats[cfg.content_layer], self.content_target)
        if cfg.style_weight > 0:
            terms["style"] = losses.style_loss(feats, self.style_targets)
        if cfg.hist_weight > 0:
            terms["hist"] = losses.histogram_loss(feats, self.hist_targets)
        if cfg.tv_weight > 0:
            terms["tv"] = losses.tv_loss(x)
        if self.flat is not None:
            terms["flat"] = losses.flat_change_loss(x, self.content, self.flat)
        if self.matting is not None:
            terms["matting"] = self.matting(x)
        total = x.new_zeros(())
        for key, value in terms.items():
            total = total + self.weights[key] * value
        return total, {k: float(v.detach()) for k, v in terms.items()}


def loss_terms(
    content: np.ndarray,
    style: np.ndarray,
    output: np.ndarray,
    masks: MaskSet,
    config: TransferConfig,
    extractor: VGGFeatures,
) -> dict[str, float]:
    """The (unweighted) loss terms of ``output`` at the working size ``config.size``.

    Args:
        content, style, output: ``(H, W, 3)`` images in [0, 1] (any sizes).
        masks: label masks of content and style.
        config: settings (layers, size, matting radius and eps).
        extractor: network tapping the layers in use.
    """
    device = next(extractor.buffers()).device
    h, w = fit_long_side(content.shape[0], content.shape[1], config.size)
    content_np = resize(content, (h, w))
    style_np = resize(style, _style_size(style.shape[:2], h * w))
    problem = LevelProblem(extractor, _to_tensor(content_np, device), _to_tensor(style_np, device),
                           masks, config.replace(matting_weight=max(config.matting_weight, 1.0)),
                           content_np, Timer())
    with torch.no_grad():
        _, terms = problem.objective(_to_tensor(resize(output, (h, w)), device))
    return terms


def _fingerprint(array: np.ndarray) -> str:
    """A digest of an array's shape and bytes (cache key)."""
    import hashlib

    digest = hashlib.blake2b(np.ascontiguousarray(array).tobytes(), digest_size=16)
    digest.update(str(array.shape).encode())
    return digest.hexdigest()


def _style_size(style_shape: tuple[int, int], content_area: int) -> tuple[int, int]:
    """Style size with about the content level's pixel count and the style's aspect."""
    sh, sw = style_shape
    scale = (content_area / (sh * sw)) ** 0.5
    return max(16, round(sh * scale)), max(16, round(sw * scale))
