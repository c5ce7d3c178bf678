"""optimise_level on small closed-form objectives: budgets, line search, early stopping,
the [0, 1] bounds."""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import pytest
import scipy.optimize
import torch

from photostyle.engine.losses import tv_loss
from photostyle.engine.optimize import BoxLBFGS, Objective, optimise_level, pyramid_preconditioner

TARGET = torch.linspace(0.2, 0.8, 3 * 4 * 5).reshape(1, 3, 4, 5)


def objective(loss_of: Callable[[torch.Tensor], torch.Tensor]) -> Objective:
    """``loss_of`` as an objective of :func:`optimise_level`: the loss and its one term."""

    def evaluate(x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        loss = loss_of(x)
        return loss, {"q": float(loss.detach())}

    return evaluate


quadratic = objective(lambda x: (x - TARGET).square().sum())


def flat(x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    loss = 0.0 * x.sum() + 1.0
    return loss, {"q": 1.0}


@pytest.mark.parametrize("optimizer", ["lbfgs", "lbfgs-wolfe"])
def test_lbfgs_solves_a_quadratic_within_the_budget(optimizer: str) -> None:
    out = optimise_level(torch.full((1, 3, 4, 5), 0.5), quadratic, iterations=12,
                         optimizer=optimizer)
    assert out.status == "completed"
    assert 1 <= out.evaluations <= 12
    assert out.best_loss < 1e-10
    torch.testing.assert_close(out.image, TARGET, atol=1e-5, rtol=0)
    assert len(out.history["total"]) == out.evaluations


def test_line_search_budget_counts_every_network_pass() -> None:
    calls = {"n": 0}

    def counted(x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        calls["n"] += 1
        loss = (x - TARGET).pow(4).sum() + torch.cos(6 * x).sum()  # not quadratic
        return loss, {}

    out = optimise_level(torch.full((1, 3, 4, 5), 0.5), counted, iterations=7,
                         optimizer="lbfgs-wolfe")
    assert calls["n"] == out.evaluations <= 7


def test_patience_stops_a_stalled_level_and_says_so() -> None:
    out = optimise_level(torch.full((1, 3, 4, 5), 0.5), flat, iterations=50, patience=5)
    assert out.status == "completed"
    assert out.evaluations == 6  # the first evaluation, then 5 without progress
    assert "stalled" in out.message


def test_patience_does_not_cut_a_level_that_still_improves() -> None:
    out = optimise_level(torch.zeros(1, 3, 4, 5), quadratic, iterations=30, optimizer="adam",
                         lr=0.01, patience=3)
    assert out.evaluations == 30 and out.message == ""


def test_restart_returns_to_the_best_image_with_a_fresh_memory() -> None:
    # A bumpy objective on which plain L-BFGS at a unit step overshoots.
    def bumpy(x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        loss = 2 + (x - TARGET).square().sum() + 0.05 * torch.sin(40 * x).sum()
        return loss, {}

    values = []
    for restart in (0.0, 0.05):
        out = optimise_level(torch.full((1, 3, 4, 5), 0.5), bumpy, iterations=40,
                             restart=restart)
        values.append(out.history["total"])
        assert out.best_loss == min(out.history["total"])
    plain, restarted = values
    # an evaluation more than 5 % above the best is followed by one at the best image
    best = [min(restarted[: i + 1]) for i in range(len(restarted))]
    jumps = [i for i in range(1, len(restarted)) if restarted[i - 1] > best[i - 1] * 1.05]
    assert jumps, "the objective should make plain L-BFGS overshoot"
    for i in jumps:
        assert restarted[i] == pytest.approx(best[i - 1], rel=1e-6)
    assert any(v > min(v2 for v2 in plain[:i]) * 1.05 for i, v in enumerate(plain) if i)


# A coupled, ill-conditioned quadratic whose unconstrained minimum lies partly outside
# [0, 1], so the bounds are active at the solution (as on photos with black or white areas).
_GEN = torch.Generator().manual_seed(0)
_OUTSIDE = torch.rand((1, 3, 8, 8), generator=_GEN) * 2 - 0.5  # targets in [-0.5, 1.5]
_SCALES = torch.logspace(0, 2, _OUTSIDE.numel())[torch.randperm(_OUTSIDE.numel(),
                                                                generator=_GEN)]


def _boxed_loss(x: torch.Tensor) -> torch.Tensor:
    fit = (_SCALES.to(x.dtype).view_as(x) * (x - _OUTSIDE.to(x.dtype)).square()).mean()
    return fit + 5 * tv_loss(x)


boxed = objective(_boxed_loss)


@functools.cache
def _box_minimum() -> tuple[float, np.ndarray]:
    """The constrained minimum of ``boxed`` by SciPy's L-BFGS-B (float64), run to
    convergence."""

    def f(z: np.ndarray) -> tuple[float, np.ndarray]:
        x = torch.tensor(z, dtype=torch.float64).view_as(_OUTSIDE).requires_grad_(True)
        loss = _boxed_loss(x)
        loss.backward()
        assert x.grad is not None
        return float(loss.detach()), x.grad.numpy().ravel()

    res = scipy.optimize.minimize(f, np.full(_OUTSIDE.numel(), 0.5), jac=True,
                                  method="L-BFGS-B", bounds=[(0.0, 1.0)] * _OUTSIDE.numel(),
                                  options={"maxiter": 5000, "ftol": 1e-15, "gtol": 1e-12})
    return float(res.fun), res.x


def test_box_lbfgs_reaches_the_constrained_minimum_without_oscillating() -> None:
    seen = []

    def watched(x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        seen.append((float(x.detach().min()), float(x.detach().max())))
        return boxed(x)

    best, solution = _box_minimum()
    out = optimise_level(torch.full_like(_OUTSIDE, 0.5), watched, iterations=60)
    assert out.best_loss == pytest.approx(best, rel=1e-4)
    np.testing.assert_allclose(out.image.numpy().ravel(), solution, atol=2e-3)
    assert all(lo >= 0.0 and hi <= 1.0 for lo, hi in seen)  # every evaluation in the box
    history = out.history["total"]
    assert all(v <= 1.1 * min(history[:i]) for i, v in enumerate(history) if i)


def test_clamping_between_torch_lbfgs_steps_stalls_where_projection_does_not() -> None:
    # Why "project" is the default: clamping behind torch.optim.LBFGS's back makes its
    # curvature pairs describe steps it did not take; the loss spikes and stalls.
    best, _ = _box_minimum()
    clamp = optimise_level(torch.full_like(_OUTSIDE, 0.5), boxed, iterations=60,
                           bounds="clamp")
    spikes = sum(v > 1.1 * min(clamp.history["total"][:i])
                 for i, v in enumerate(clamp.history["total"]) if i)
    assert spikes > 10 and clamp.best_loss > best * 1.01


def test_box_lbfgs_holds_values_pushed_against_a_bound() -> None:
    # The minimum of (x - 2)^2 over [0, 1] is at 1; values already at 1 stay there.
    x = torch.full((1, 3, 2, 2), 0.25).requires_grad_(True)
    opt = BoxLBFGS(x, lr=1.0, history_size=5)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = (x - 2.0).square().sum()
        loss.backward()
        return loss

    for _ in range(10):
        opt.step(closure)
        assert float(x.detach().min()) >= 0.0 and float(x.detach().max()) <= 1.0
    torch.testing.assert_close(x.detach(), torch.ones_like(x))


def test_pyramid_preconditioner_block_means_by_hand() -> None:
    q = torch.tensor([[1.0, 2.0, 6.0], [3.0, 4.0, 8.0]]).view(1, 1, 2, 3)
    # one level: 2 x 2 blocks; the right-hand block is cut by the edge to 2 x 1
    block_means = torch.tensor([[2.5, 2.5, 7.0], [2.5, 2.5, 7.0]]).view(1, 1, 2, 3)
    torch.testing.assert_close(pyramid_preconditioner(1, 3.0)(q), q + 3.0 * block_means)
    # a level whose blocks would be larger than the image is left out
    torch.testing.assert_close(pyramid_preconditioner(4, 3.0)(q), q + 3.0 * block_means)
    ones = torch.ones(1, 3, 16, 16)
    torch.testing.assert_close(pyramid_preconditioner(3, 2.0)(ones), ones * (1 + 2 + 4 + 8))


def test_pyramid_preconditioner_is_symmetric_positive_definite() -> None:
    gen = torch.Generator().manual_seed(1)
    u, v = torch.randn(2, 1, 3, 13, 22, generator=gen, dtype=torch.float64)
    apply = pyramid_preconditioner(4, 2.0)
    assert float((u * apply(v)).sum()) == pytest.approx(float((v * apply(u)).sum()), rel=1e-12)
    assert float((u * apply(u)).sum()) >= float((u * u).sum())  # P = I + a sum of projections


TARGET_SMOOTH = torch.rand((1, 3, 24, 24), generator=torch.Generator().manual_seed(2)) * 0.6 + 0.2


def _smooth_loss(x: torch.Tensor) -> torch.Tensor:
    # Ill-conditioned where images are smooth: a weak pull towards the target and a strong
    # smoothness term, as in the photorealism term (the Hessian's small eigenvalues belong
    # to slowly varying directions).
    return (x - TARGET_SMOOTH.to(x.dtype)).square().mean() + 1e3 * tv_loss(x)


smooth_problem = objective(_smooth_loss)


@functools.cache
def _smooth_minimum() -> float:
    """The exact minimum of the quadratic ``_smooth_loss`` (solving Hessian x = -gradient at
    0 in float64; it lies inside [0, 1], so the bounds do not bind)."""
    zero = torch.zeros(TARGET_SMOOTH.numel(), dtype=torch.float64)
    hessian = torch.autograd.functional.hessian(
        lambda v: _smooth_loss(v.view_as(TARGET_SMOOTH)), zero)
    grad = torch.func.grad(lambda v: _smooth_loss(v.view_as(TARGET_SMOOTH)))(zero)
    x = torch.linalg.solve(hessian, -grad)
    assert 0.0 < float(x.min()) and float(x.max()) < 1.0
    return float(_smooth_loss(x.view_as(TARGET_SMOOTH)))


def test_preconditioned_box_lbfgs_converges_faster_on_smooth_directions() -> None:
    best = _smooth_minimum()
    start = torch.full_like(TARGET_SMOOTH, 0.1)
    plain = optimise_level(start, smooth_problem, iterations=12)
    pre = optimise_level(start, smooth_problem, iterations=12, precondition=(4, 2.0))
    # measured: 0.7 % above the minimum against 97 % without the preconditioner
    assert pre.best_loss - best < 0.05 * (plain.best_loss - best)


def test_preconditioned_box_lbfgs_reaches_the_constrained_minimum() -> None:
    best, solution = _box_minimum()
    out = optimise_level(torch.full_like(_OUTSIDE, 0.5), boxed, iterations=80,
                         precondition=(2, 2.0))
    assert out.best_loss == pytest.approx(best, rel=1e-4)
    np.testing.assert_allclose(out.image.numpy().ravel(), solution, atol=2e-3)
