"""The matting Laplacian of Levin, Lischinski and Weiss (2008) and the photorealism term.

For an image ``I`` (``H x W x 3``, [0, 1]) and every window ``w_k`` of ``n = (2r+1)^2``
pixels lying fully inside the image, with mean ``mu_k`` and covariance ``Sigma_k``::

    L_ij = sum_{k : i, j in w_k} ( delta_ij
            - (1/n) (1 + (I_i - mu_k)^T (Sigma_k + eps/n I_3)^{-1} (I_j - mu_k)) )

``V^T L V`` is the smallest ridge-regularised squared residual of fitting ``V`` by an affine
function of ``I`` in every window, summed over windows, so it is zero for any ``V`` that is
a global affine function of the content's colours, and ``L`` is symmetric, positive
semi-definite and has zero row sums.

Construction is vectorised: the window terms are computed for all windows at once, with a
closed-form 3x3 Cholesky factorisation of ``Sigma_k + eps/n I`` (stable for the condition
numbers near 1e7 that eps = 1e-7 produces; no adjugate inverse), and accumulated into the
``(4r+1)^2`` diagonals of the banded matrix, from which the CSR arrays are built directly.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

log = logging.getLogger(__name__)


def matting_laplacian(image: np.ndarray, radius: int = 1, eps: float = 1e-7) -> sp.csr_matrix:
    """Closed-form matting Laplacian of an RGB image.

    Args:
        image: ``(H, W, 3)`` float array in [0, 1].
        radius: window radius ``r``; windows are ``(2r+1) x (2r+1)``.
        eps: regulariser ``epsilon`` of the affine model.

    Returns:
        ``scipy.sparse.csr_matrix`` of shape ``(N, N)``, ``N = H*W``, float64, pixel index
        ``y * W + x``; symmetric, PSD, zero row sums.
    """
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {img.shape}")
    if radius < 1:
        raise ValueError(f"radius must be >= 1, got {radius}")
    h, w, _ = img.shape
    n_pix = h * w
    side = 2 * radius + 1
    n = side * side
    hk, wk = h - 2 * radius, w - 2 * radius
    span = 2 * side - 1  # offsets -2r..2r in each axis
    diag = np.zeros((span, span, h, w))
    if hk > 0 and wk > 0:
        offsets = [(dy, dx) for dy in range(side) for dx in range(side)]
        # patches[a] = colours at window position a for every window centre: (n, hk, wk, 3)
        patches = np.stack([img[dy : dy + hk, dx : dx + wk] for dy, dx in offsets])
        mean = patches.mean(axis=0)
        d = patches - mean
        cov = np.einsum("nhwi,nhwj->hwij", d, d) / n
        cov[..., [0, 1, 2], [0, 1, 2]] += eps / n
        y = _cholesky_solve_3(cov, d)  # (n, hk, wk, 3): L^{-1} (I_a - mu)
        for a, (ya, xa) in enumerate(offsets):
            for b in range(a, n):
                yb, xb = offsets[b]
                value = -(1.0 + np.einsum("hwi,hwi->hw", y[a], y[b])) / n
                if a == b:
                    value += 1.0
                # pixel i at window position a, pixel j at position b: L[i, j] += value
                diag[yb - ya + side - 1, xb - xa + side - 1, ya : ya + hk, xa : xa + wk] += value
                if a != b:
                    diag[ya - yb + side - 1, xa - xb + side - 1, yb : yb + hk, xb : xb + wk] += (
                        value
                    )
    return _banded_to_csr(diag, h, w, side - 1, n_pix)


def _cholesky_solve_3(cov: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve ``L y = rhs`` where ``L L^T = cov``, for batches of 3x3 SPD matrices.

    Args:
        cov: ``(..., 3, 3)`` symmetric positive definite.
        rhs: ``(n, ..., 3)`` right-hand sides.

    Returns:
        ``(n, ..., 3)`` so that ``y_a . y_b = rhs_a^T cov^{-1} rhs_b``.
    """
    tiny = 1e-300
    l00 = np.sqrt(np.maximum(cov[..., 0, 0], tiny))
    l10 = cov[..., 1, 0] / l00
    l20 = cov[..., 2, 0] / l00
    l11 = np.sqrt(np.maximum(cov[..., 1, 1] - l10 * l10, tiny))
    l21 = (cov[..., 2, 1] - l20 * l10) / l11
    l22 = np.sqrt(np.maximum(cov[..., 2, 2] - l20 * l20 - l21 * l21, tiny))
    y0 = rhs[..., 0] / l00
    y1 = (rhs[..., 1] - l10 * y0) / l11
    y2 = (rhs[..., 2] - l20 * y0 - l21 * y1) / l22
    return np.stack([y0, y1, y2], axis=-1)


def _banded_to_csr(diag: np.ndarray, h: int, w: int, reach: int, n_pix: int) -> sp.csr_matrix:
    """CSR matrix from ``diag[ey + reach, ex + reach, y, x] = L[(y, x), (y+ey, x+ex)]``.

    Entries whose neighbour falls outside the image were never accumulated, so they are
    exactly zero and dropped with every other zero: no bounds masks are needed.
    """
    span = diag.shape[0]
    ey, ex = np.meshgrid(np.arange(span) - reach, np.arange(span) - reach, indexing="ij")
    offsets = (ey * w + ex).ravel()
    order = np.argsort(offsets, kind="stable")  # ascending columns within each row
    data = np.ascontiguousarray(diag.reshape(span * span, n_pix)[order].T)  # (N, span^2)
    keep = data != 0.0
    index_dtype = np.int32 if n_pix * span * span < 2**31 else np.int64
    cols = np.arange(n_pix, dtype=index_dtype)[:, None] + offsets[order].astype(index_dtype)
    indptr = np.zeros(n_pix + 1, dtype=index_dtype)
    np.cumsum(keep.sum(axis=1), out=indptr[1:])
    matrix = sp.csr_matrix((data[keep], cols[keep], indptr), shape=(n_pix, n_pix))
    matrix.has_sorted_indices = True
    return matrix


def laplacian_energy(laplacian: sp.spmatrix, image: np.ndarray) -> float:
    """``sum_c V_c^T L V_c`` for an ``(H, W, 3)`` image (float64)."""
    v = np.asarray(image, dtype=np.float64).reshape(-1, image.shape[-1])
    return float(np.einsum("nc,nc->", v, laplacian @ v))


def to_torch_csr(
    matrix: sp.csr_matrix, dtype: torch.dtype = torch.float32, device: str = "cpu"
) -> torch.Tensor:
    """A SciPy CSR matrix as a torch sparse CSR tensor (int64 indices) on ``device``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        return torch.sparse_csr_tensor(
            torch.from_numpy(matrix.indptr.astype(np.int64)),
            torch.from_numpy(matrix.indices.astype(np.int64)),
            torch.from_numpy(matrix.data).to(dtype),
            size=matrix.shape,
            device=device,
            check_invariants=False,
        )


class _QuadraticForm(torch.autograd.Function):
    """``scale * sum_c V_c^T M V_c`` with gradient ``2 * scale * M V`` (M symmetric).

    ``matrix`` is a torch sparse CSR tensor on the image's device, or a SciPy CSR matrix for
    CPU tensors (SciPy's product is several times faster than torch's on the CPU).
    """

    @staticmethod
    def forward(ctx, image: torch.Tensor, matrix: Any, scale: float) -> torch.Tensor:  # type: ignore[override]
        v = image.reshape(3, -1).T.contiguous()
        if isinstance(matrix, sp.spmatrix | sp.sparray):
            mv = torch.from_numpy(np.asarray(matrix @ v.detach().numpy(), dtype=np.float32))
            mv = mv.to(v.dtype)
        else:
            mv = matrix @ v
        ctx.save_for_backward(mv)
        ctx.scale = scale
        ctx.shape = image.shape
        return (v * mv).sum() * scale

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (mv,) = ctx.saved_tensors
        grad_image = (2.0 * ctx.scale) * grad * mv.T.reshape(ctx.shape)
        return grad_image, None, None


class MattingTerm:
    """The photorealism regulariser ``(1/N) sum_c V_c^T M V_c`` for one pyramid level.

    The Laplacian ``M`` of the content at that level is built once. On the CPU the per-step
    product uses SciPy's CSR kernel; on a GPU, M is kept as a torch sparse CSR tensor on the
    device, so the product runs there.

    Args:
        content: ``(H, W, 3)`` content image in [0, 1] at the level's size.
        radius, eps: Laplacian window radius and regulariser.
        device: where the product runs.
    """

    def __init__(
        self, content: np.ndarray, radius: int = 1, eps: float = 1e-7, device: str = "cpu"
    ) -> None:
        self.shape = content.shape[:2]
        self.laplacian = matting_laplacian(content, radius, eps)
        if torch.device(device).type == "cpu":
            self.matrix: Any = self.laplacian.astype(np.float32)
        else:
            self.matrix = to_torch_csr(self.laplacian, torch.float32, device)
        self.n_pixels = self.shape[0] * self.shape[1]

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        """Energy of ``image`` (``(1, 3, H, W)``, [0, 1]) normalised by the pixel count."""
        if tuple(image.shape[-2:]) != tuple(self.shape):
            raise ValueError(f"image size {tuple(image.shape[-2:])} != Laplacian {self.shape}")
        out: torch.Tensor = _QuadraticForm.apply(image, self.matrix, 1.0 / self.n_pixels)
        return out
