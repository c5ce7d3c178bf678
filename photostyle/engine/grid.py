"""A look as a bilateral grid of affine colour transforms: the variable of ``variable="grid"``.

Instead of the output's pixels, the optimisation can vary a small grid of 3x4 affine colour
transforms over the content (space and intensity, as in deep bilateral learning, Gharbi et
al. 2017): ``cells`` cells along the photo's long side, ``bins`` bins of the content's
luminance. The output at pixel ``p`` is ``A(p) c(p) + b(p)``, where ``c`` is the content and
``[A | b](p)`` is read from the grid at ``(x, y, luminance(p))`` by trilinear interpolation
("slicing"). Such an output is an affine function of the content's colours wherever the
transforms vary slowly, so it is photorealistic by construction: it cannot paint texture,
and pixel detail comes from the content. The grid has about 20 000 unknowns (16 cells and
8 bins over a 3:2 photo) instead of 320 000 pixel values; it does not depend on the image's
size, so it can be optimised on a small image and sliced at any other (the next pyramid
level, the working size).

:func:`grid_smoothness` is its regulariser: squared differences of the transforms between
neighbouring cells along x, y and luminance. Tensors here: grids ``(1, 12, bins, gh, gw)``
(channel ``3 i + j`` is ``A[i, j]``, channel ``9 + i`` is ``b[i]``), images
``(1, 3, H, W)`` in [0, 1].
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from photostyle.files.icc import Encoding

#: Output rows rendered at a time at full resolution.
TILE_ROWS = 256

#: Weights of the luminance guide (Rec. 601 luma of sRGB values).
LUMA = (0.299, 0.587, 0.114)


def grid_shape(height: int, width: int, cells: int, bins: int) -> tuple[int, int, int]:
    """``(bins, gh, gw)`` of a grid with ``cells`` cells along the long side of an
    ``height x width`` image (at least 2 per side: grid points sit on the image's borders).
    """
    long_side = max(height, width)
    gh = max(2, round(cells * height / long_side) + 1)
    gw = max(2, round(cells * width / long_side) + 1)
    return max(2, bins), gh, gw


def identity_transform(like: torch.Tensor) -> torch.Tensor:
    """The identity ``[I | 0]`` as 12 channels shaped to broadcast against ``like``
    (``(1, 12, ...)``): 1 on channels 0, 4 and 8 (the diagonal of ``A``), else 0."""
    eye = torch.zeros(12, dtype=like.dtype, device=like.device)
    eye[[0, 4, 8]] = 1.0
    return eye.reshape(1, 12, *([1] * (like.dim() - 2)))


def identity_grid(height: int, width: int, cells: int, bins: int,
                  device: torch.device | str = "cpu") -> torch.Tensor:
    """The grid whose every transform is the identity: ``(1, 12, bins, gh, gw)``."""
    d, gh, gw = grid_shape(height, width, cells, bins)
    grid = torch.zeros((1, 12, d, gh, gw), device=device)
    return grid + identity_transform(grid)


def guide(content: torch.Tensor) -> torch.Tensor:
    """Luminance of ``content`` ``(1, 3, H, W)``: ``(1, 1, H, W)`` in [0, 1]."""
    w = content.new_tensor(LUMA).reshape(1, 3, 1, 1)
    return (content * w).sum(1, keepdim=True).clamp(0.0, 1.0)


def slice_coefficients(grid: torch.Tensor, lum: torch.Tensor,
                       rows: tuple[int, int] | None = None,
                       regions: torch.Tensor | None = None, blocks: int = 1) -> torch.Tensor:
    """The transforms at every pixel: ``(1, 12, H, W)`` from a grid ``(1, 12, D, gh, gw)`` and
    a guide ``(1, 1, H, W)`` in [0, 1] (trilinear; the grid's corner points sit on the
    image's corner pixels and on luminance 0 and 1).

    ``rows``: ``(top, height)``: the guide is rows ``top ...`` of an image ``height`` rows
    high (a tile of a larger image).

    ``regions`` ``(1, 1, H, W)`` integer region of each pixel, in ``0 .. blocks - 1``: the
    grid's ``D`` bins are then ``blocks`` blocks of ``D / blocks`` luminance bins, one block
    per region, and a pixel reads only its own region's block (no interpolation across
    blocks): each region has a look of its own, which does not bleed into its neighbours."""
    h, w = lum.shape[-2:]
    top, full_h = rows if rows is not None else (0, h)
    step = 2.0 / max(full_h - 1, 1)
    ys = (-1.0 + step * torch.arange(top, top + h, device=lum.device, dtype=lum.dtype)
          ) if full_h > 1 else torch.zeros(h, device=lum.device, dtype=lum.dtype)
    xs = torch.linspace(-1.0, 1.0, w, device=lum.device, dtype=lum.dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    if regions is None or blocks <= 1:
        gz = lum[0, 0] * 2.0 - 1.0
    else:
        depth = grid.shape[2]
        per = depth // blocks
        index = regions[0, 0].to(lum.dtype) * per + lum[0, 0] * (per - 1)
        gz = index * (2.0 / (depth - 1)) - 1.0
    coords = torch.stack([gx, gy, gz], dim=-1).reshape(1, 1, h, w, 3)
    out = F.grid_sample(grid, coords, mode="bilinear", padding_mode="border",
                        align_corners=True)
    return out[:, :, 0]


def apply_coefficients(coeffs: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """``A c + b`` per pixel: ``(1, 3, H, W)`` from coefficients ``(1, 12, H, W)`` and the
    content ``(1, 3, H, W)`` (not clamped)."""
    a = coeffs[:, :9].reshape(1, 3, 3, *coeffs.shape[-2:])
    b = coeffs[:, 9:12]
    return (a * content.unsqueeze(1)).sum(2) + b


def render(grid: torch.Tensor, content: torch.Tensor, regions: torch.Tensor | None = None,
           blocks: int = 1) -> torch.Tensor:
    """The look of ``grid`` on ``content`` ``(1, 3, H, W)``: ``(1, 3, H, W)`` clamped to
    [0, 1] (any size: the grid is sliced at the content's; ``regions``, ``blocks``: see
    :func:`slice_coefficients`)."""
    coeffs = slice_coefficients(grid, guide(content), regions=regions, blocks=blocks)
    return apply_coefficients(coeffs, content).clamp(0.0, 1.0)


def region_map(content_ids: np.ndarray, size: tuple[int, int]) -> tuple[torch.Tensor, int]:
    """Each pixel's region at ``size`` ``(h, w)`` from a label map ``(H, W)`` (``-1``:
    unlabelled, which becomes a region of its own): ``((1, 1, h, w)`` int64, blocks)."""
    import cv2

    ids = cv2.resize(content_ids.astype(np.int32), (size[1], size[0]),
                     interpolation=cv2.INTER_NEAREST).astype(np.int64)
    blocks = int(content_ids.max()) + 1 if content_ids.size else 1
    # the number of blocks comes from the whole map, not from this size's: a grid carried
    # from a coarse level to a fine one keeps its depth even where a few unlabelled pixels
    # vanish at the coarse size
    if (content_ids < 0).any():
        ids[ids < 0] = blocks
        blocks += 1
    return torch.from_numpy(ids)[None, None], max(blocks, 1)


def scale_towards_identity(grid: torch.Tensor, strength: float) -> torch.Tensor:
    """Part of a look: every transform ``A' = I + s (A - I)``, ``b' = s b`` (the grid is
    linear in its transforms, so this is the per-pixel scaling of
    :func:`photostyle.engine.smooth.scale_towards_identity`)."""
    identity = identity_transform(grid)
    return identity + strength * (grid - identity)


def render_array(grid: torch.Tensor | np.ndarray, content: np.ndarray, strength: float = 1.0,
                 encoding: Encoding | None = None) -> np.ndarray:
    """The look of ``grid`` on a content of any size, tile by tile (the full-resolution
    output).

    Args:
        grid: ``(1, 12, D, gh, gw)``.
        content: ``(H, W, 3)`` in sRGB, or in ``encoding.source``'s profile.
        strength: in [0, 1] (:func:`scale_towards_identity`).
        encoding: the content's and the output's colour profiles (``None``: both sRGB): the
            transforms act on the content in (extended) sRGB, and the result is encoded in
            the output's profile.

    Returns:
        ``(H, W, 3)`` float32 in [0, 1], in the output's encoding; computed as
        ``content + (A - I) content + b`` in float64, so that where the transforms are the
        identity the content comes back exactly.
    """
    from photostyle.engine.smooth import _apply_tile

    g = torch.as_tensor(grid, dtype=torch.float32).cpu()
    if strength != 1.0:
        g = scale_towards_identity(g, strength)
    big_h, big_w = content.shape[:2]
    out = np.empty((big_h, big_w, 3), dtype=np.float32)
    luma = np.asarray(LUMA, dtype=np.float64)
    for top in range(0, big_h, TILE_ROWS):
        rows = slice(top, min(big_h, top + TILE_ROWS))
        c = content[rows]
        srgb = c.astype(np.float64) if encoding is None else encoding.decode(c)
        lum = torch.from_numpy(np.clip(srgb @ luma, 0.0, 1.0).astype(np.float32))
        with torch.no_grad():
            coeffs = slice_coefficients(g, lum[None, None], (top, big_h))
        change = (coeffs - identity_transform(coeffs))[0].permute(1, 2, 0).numpy()
        _apply_tile(np.ascontiguousarray(change), c, out[rows], 3, encoding)
    return out


def coefficient_maps(grid: torch.Tensor | np.ndarray, content: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The grid's transforms at every pixel of ``content`` ``(h, w, 3)`` (sRGB): ``A``
    ``(h, w, 3, 3)`` and ``b`` ``(h, w, 3)`` float32, the per-pixel maps of a saved look."""
    g = torch.as_tensor(grid, dtype=torch.float32).cpu()
    c = torch.from_numpy(np.ascontiguousarray(content, dtype=np.float32)).permute(2, 0, 1)[None]
    with torch.no_grad():
        coeffs = slice_coefficients(g, guide(c))[0].permute(1, 2, 0).numpy()
    h, w = content.shape[:2]
    return (np.ascontiguousarray(coeffs[..., :9].reshape(h, w, 3, 3)),
            np.ascontiguousarray(coeffs[..., 9:12]))


def grid_smoothness(grid: torch.Tensor, intensity: float = 1.0, blocks: int = 1
                    ) -> torch.Tensor:
    """Mean squared difference of neighbouring transforms (scalar): along x and y, plus
    ``intensity`` times along the luminance axis (within each region's block of bins when
    the grid has ``blocks`` of them). The offsets ``b`` count as they are and
    the matrices ``A`` as their effect on a mid-grey colour (divided by 2), so a step of one
    in either moves a colour by about the same amount."""
    scale = grid.new_ones(12)
    scale[:9] = 0.5
    g = grid * scale.reshape(1, 12, 1, 1, 1)
    zero = grid.new_zeros(())
    dz = g[:, :, 1:] - g[:, :, :-1]
    if blocks > 1:  # no smoothness between one region's block of bins and the next's
        per = grid.shape[2] // blocks
        keep = [k for k in range(grid.shape[2] - 1) if (k + 1) % per != 0]
        dz = dz[:, :, keep]
    dy = g[..., 1:, :] - g[..., :-1, :]
    dx = g[..., 1:] - g[..., :-1]
    return ((dx.square().mean() if dx.numel() else zero)
            + (dy.square().mean() if dy.numel() else zero)
            + intensity * (dz.square().mean() if dz.numel() else zero))


def fit_grid(content: torch.Tensor, target: torch.Tensor, cells: int, bins: int,
             steps: int = 20, smoothness: float = 1e-3,
             regions: torch.Tensor | None = None, blocks: int = 1) -> torch.Tensor:
    """The grid whose look on ``content`` comes closest to ``target`` (both
    ``(1, 3, H, W)`` in [0, 1]): least squares plus ``smoothness`` times
    :func:`grid_smoothness`, from the identity, by ``steps`` L-BFGS iterations (no network:
    a fraction of a second at a few hundred pixels). Starts a grid optimisation from the
    per-region colour transfer.

    Returns:
        ``(1, 12, bins, gh, gw)``, detached.
    """
    h, w = content.shape[-2:]
    grid = identity_grid(h, w, cells, bins * blocks, content.device).requires_grad_(True)
    coeff_guide = guide(content)
    opt = torch.optim.LBFGS([grid], lr=1.0, max_iter=steps, history_size=20,
                            tolerance_grad=1e-9, tolerance_change=1e-12,
                            line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        out = apply_coefficients(slice_coefficients(grid, coeff_guide, regions=regions,
                                                    blocks=blocks), content)
        loss = (out - target).square().mean() + smoothness * grid_smoothness(grid,
                                                                             blocks=blocks)
        loss.backward()
        return loss

    opt.step(closure)  # type: ignore[arg-type]
    result = grid.detach()
    if not bool(torch.isfinite(result).all()):
        return identity_grid(h, w, cells, bins * blocks, content.device)
    return result


