"""3D LUT export: the look as one global colour mapping (the ``.cube`` format).

A transfer's look is regional: each pixel has its own affine colour transform. Colourists'
tools (Photoshop, Resolve, Premiere, ffmpeg's ``lut3d``) apply one mapping of colour to
colour everywhere: a 3D lookup table on a lattice of ``size^3`` colours, trilinearly
interpolated. :func:`fit_lut` finds the table that best reproduces the result from the
content (least squares over the photo's pixels, with a smoothness term on second
differences of the lattice so that colours the photo lacks get a smooth, nearly linear
continuation); the fit error in CIELAB tells how much of the look one LUT can carry.

Lattice arrays are ``(size, size, size, 3)`` indexed ``[r, g, b]``, values in [0, 1]; the
``.cube`` file lists them with red changing fastest (Adobe's specification).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import cg

from photostyle.errors import InputError, OutputError

log = logging.getLogger(__name__)

LUT_SIZE = 33
#: Pixels (long side) at which the content and the result are compared to fit the LUT.
FIT_SIDE = 512
#: Weight of the smoothness term, per sample per lattice node.
SMOOTHNESS = 0.05
#: A mean fit error (CIELAB Delta E 1976) above this: the look is too regional for one LUT.
REGIONAL_DE = 5.0


def _weights(pixels: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Trilinear weights of ``pixels`` ``(N, 3)`` on the lattice: node indices ``(N, 8)``
    (flat, ``r * size^2 + g * size + b``) and weights ``(N, 8)``."""
    p = np.clip(pixels, 0.0, 1.0) * (size - 1)
    low = np.minimum(np.floor(p).astype(np.int64), size - 2)
    frac = p - low
    index = np.empty((len(p), 8), np.int64)
    weight = np.empty((len(p), 8), np.float64)
    for corner in range(8):
        bits = [(corner >> k) & 1 for k in (2, 1, 0)]  # r, g, b offsets
        node = low + np.array(bits)
        index[:, corner] = (node[:, 0] * size + node[:, 1]) * size + node[:, 2]
        w = np.ones(len(p))
        for axis, bit in enumerate(bits):
            w *= frac[:, axis] if bit else 1.0 - frac[:, axis]
        weight[:, corner] = w
    return index, weight


def apply_lut(lut: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """Trilinear application of ``lut`` ``(S, S, S, 3)`` to ``pixels`` ``(..., 3)`` in
    [0, 1] (clipped to it first); returns float64 of the same shape."""
    size = lut.shape[0]
    flat = pixels.reshape(-1, 3).astype(np.float64)
    table = lut.reshape(-1, 3).astype(np.float64)
    out = np.zeros_like(flat)
    for start in range(0, len(flat), 1 << 20):
        index, weight = _weights(flat[start : start + (1 << 20)], size)
        out[start : start + len(index)] = np.einsum("nk,nkc->nc", weight, table[index])
    return out.reshape(pixels.shape)


def identity_lut(size: int = LUT_SIZE) -> np.ndarray:
    """The lattice that maps every colour to itself."""
    axis = np.linspace(0.0, 1.0, size)
    return np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1)


def _second_differences(size: int) -> sp.csr_matrix:
    """Second differences along r, g and b of a flat lattice (rows: one per triple)."""
    d1 = sp.diags([np.ones(size - 2), -2 * np.ones(size - 2), np.ones(size - 2)], [0, 1, 2],
                  shape=(size - 2, size))
    eye = sp.identity(size)
    ops = [sp.kron(sp.kron(d1, eye), eye), sp.kron(sp.kron(eye, d1), eye),
           sp.kron(sp.kron(eye, eye), d1)]
    return sp.vstack(ops).tocsr()


def _system(source: np.ndarray, target: np.ndarray, size: int, smoothness: float
            ) -> tuple[sp.csr_matrix, np.ndarray]:
    """The normal equations of :func:`fit_lut`'s problem on a ``size`` lattice."""
    n = len(source)
    index, weight = _weights(source, size)
    nodes = size**3
    w = sp.csr_matrix((weight.ravel(), index.ravel(), np.arange(0, 8 * n + 1, 8)),
                      shape=(n, nodes))
    d = _second_differences(size)
    tiny = 1e-6 * max(n / nodes, 1e-3)
    system = (w.T @ w + smoothness * n / nodes * (d.T @ d) + tiny * sp.identity(nodes)).tocsr()
    rhs = w.T @ target.astype(np.float64) + tiny * identity_lut(size).reshape(-1, 3)
    return system, np.asarray(rhs)


#: Conjugate-gradient steps on the full lattice after the half lattice's exact solution.
REFINE_STEPS = 100


def fit_lut(source: np.ndarray, target: np.ndarray, size: int = LUT_SIZE,
            smoothness: float = SMOOTHNESS) -> np.ndarray:
    """The lattice ``(size, size, size, 3)`` whose trilinear application best maps
    ``source`` ``(N, 3)`` colours to ``target`` ``(N, 3)``.

    Least squares plus ``smoothness`` times the squared second differences of the lattice
    (scaled by the number of samples per node), and a hair of pull towards the identity
    that keeps it unique. Solved exactly on the half lattice (``(size + 1) / 2`` a side: a
    direct solve of the full one takes a minute), interpolated up (which represents the
    same mapping exactly) and refined by :data:`REFINE_STEPS` preconditioned conjugate-
    gradient steps on the full lattice, which sharpen it where the photo has colours.
    """
    from scipy.sparse.linalg import splu

    coarse = (size + 1) // 2 if size % 2 == 1 and size >= 9 else size
    system, rhs = _system(source, target, coarse, smoothness)
    solution = splu(system.tocsc()).solve(rhs).reshape(coarse, coarse, coarse, 3)
    if coarse == size:
        return np.clip(solution, 0.0, 1.0)
    start = apply_lut(solution, identity_lut(size)).reshape(-1, 3)
    system, rhs = _system(source, target, size, smoothness)
    precondition = sp.diags(1.0 / system.diagonal())
    refined = np.stack([cg(system, rhs[:, ch], x0=start[:, ch], rtol=1e-12,
                           maxiter=REFINE_STEPS, M=precondition)[0] for ch in range(3)], axis=1)
    return np.clip(refined.reshape(size, size, size, 3), 0.0, 1.0)


def write_cube(lut: np.ndarray, path: str | os.PathLike, title: str = "photostyle") -> Path:
    """Write ``lut`` as an Adobe/Resolve ``.cube`` file (atomically).

    Raises:
        OutputError: the file cannot be written.
    """
    from photostyle.files.writers import atomic_write

    p = Path(path)
    size = lut.shape[0]
    rows = lut.transpose(2, 1, 0, 3).reshape(-1, 3)  # red fastest, then green, then blue
    safe = "".join(ch for ch in title if ch.isprintable() and ch != '"')[:200]
    lines = [f'TITLE "{safe}"', f"LUT_3D_SIZE {size}", "DOMAIN_MIN 0.0 0.0 0.0",
             "DOMAIN_MAX 1.0 1.0 1.0"]
    lines += [f"{r:.6f} {g:.6f} {b:.6f}" for r, g, b in rows]
    try:
        with atomic_write(p, "w") as handle:
            handle.write("\n".join(lines) + "\n")
    except OSError as exc:
        raise OutputError(f"LUT {p}: cannot write ({exc})") from None
    return p


def read_cube(path: str | os.PathLike) -> np.ndarray:
    """Read a 3D ``.cube`` file into ``(S, S, S, 3)`` indexed ``[r, g, b]``.

    Raises:
        InputError: not a 3D cube file, or its table does not match its size.
    """
    p = Path(path)
    size = 0
    values: list[list[float]] = []
    try:
        for line in p.read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            if parts[0] == "LUT_3D_SIZE":
                size = int(parts[1])
            elif parts[0][0].isdigit() or parts[0][0] in "-.":
                values.append([float(v) for v in parts[:3]])
    except (OSError, UnicodeDecodeError, ValueError, IndexError) as exc:
        raise InputError(f"LUT {p}: cannot read ({exc})") from None
    if not 2 <= size <= 256 or len(values) != size**3:
        raise InputError(f"LUT {p}: {len(values)} entries for LUT_3D_SIZE {size}")
    return np.array(values).reshape(size, size, size, 3).transpose(2, 1, 0, 3)


def export_lut(result: Any, content: Any, path: str | os.PathLike, *,
               max_pixels: int = 150_000_000, size: int = LUT_SIZE,
               name: str | None = None) -> dict[str, Any]:
    """Fit a LUT to a transfer's result, write it, and say how well it fits.

    The LUT maps the content file's values to the output file's (both in their own colour
    encodings, as a colourist applies it to the content). The fit error is measured in
    CIELAB (Delta E 1976, on both shown in sRGB) between the LUT applied to the content and
    the result, at :data:`FIT_SIDE` px; above :data:`REGIONAL_DE` a warning says the look is
    too regional for one LUT.

    Args:
        result: the transfer's result; content: the content it was made from (a path, a
            :class:`~photostyle.files.images.Photo` or an ``(H, W, 3)`` array).
        path: the ``.cube`` file; size: points per axis.
        name: what the LUT's title names as the look's content (default: the content
            file's name, or "the content" for pixels).

    Returns:
        ``{"path", "size", "mean_de", "p95_de", "regional"}`` (for the report).
    """
    from photostyle.engine.metrics import to_lab
    from photostyle.files.images import Photo, fit_long_side, read_content, resize

    photo = read_content(content, max_pixels)
    height, width = photo.pixels.shape[:2]
    h, w = fit_long_side(height, width, min(FIT_SIDE, max(height, width)))
    source = resize(photo.pixels, (h, w))
    target = resize(result.image, (h, w))
    lut = fit_lut(source.reshape(-1, 3), target.reshape(-1, 3), size)
    if name is None:
        name = Path(content).name if isinstance(content, str | os.PathLike) else "the content"
    write_cube(lut, path, title=f"photostyle look of {name}")
    mapped = apply_lut(lut, source).astype(np.float32)
    shown = [Photo(np.clip(x, 0, 1).astype(np.float32), result.profile).srgb()
             for x in (mapped, target)]
    de = np.linalg.norm(to_lab(shown[0]) - to_lab(shown[1]), axis=-1)
    mean_de, p95 = float(de.mean()), float(np.percentile(de, 95))
    regional = mean_de > REGIONAL_DE
    if regional:
        log.warning("the look is too regional for one LUT: %s reproduces it with a mean error "
                    "of %.1f Delta E (over %.0f is visible at a glance); the image itself "
                    "keeps the regional look", path, mean_de, REGIONAL_DE)
    return {"path": str(path), "size": size, "mean_de": round(mean_de, 3),
            "p95_de": round(p95, 3), "regional": regional}
