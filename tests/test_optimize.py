"""optimise_level on small closed-form objectives: budgets, line search, early stopping."""

from __future__ import annotations

import pytest
import torch

from photostyle.optimize import optimise_level

TARGET = torch.linspace(0.2, 0.8, 3 * 4 * 5).reshape(1, 3, 4, 5)


def quadratic(x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    loss = (x - TARGET).square().sum()
    return loss, {"q": float(loss.detach())}


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
