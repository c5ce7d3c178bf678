"""The optimisation loop of one pyramid level.

The image being optimised is a ``(1, 3, H, W)`` tensor of pixel values in [0, 1]. The
default optimiser, :class:`BoxLBFGS`, keeps it there by projection and builds its curvature
estimates from the steps it actually takes; ``bounds="clamp"`` instead clamps the image
before every evaluation behind :class:`torch.optim.LBFGS`'s back (earlier versions): the
step it took is then not the step its curvature pairs record, and without a line search the
loss spikes on about a third of the steps (see docs/RESULTS.md, *Speed*).
:func:`pyramid_preconditioner` gives :class:`BoxLBFGS` an initial inverse Hessian that
moves smooth (block-mean) components of a direction further than pixel detail: the loss's
slow directions are smooth ones, such as a region's overall colour.

Every evaluation of the objective runs the network once; the lowest-loss image seen so far
is kept, so an interruption (Ctrl-C, SIGTERM) or a divergence (NaN/Inf loss) still returns
the best image. Progress is reported through a callback: the library never prints.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from photostyle.engine.config import BOUNDS

log = logging.getLogger(__name__)

Objective = Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, float]]]
StepCallback = Callable[[int, int, dict[str, float]], None]


@dataclass
class LevelOutcome:
    """Result of optimising one level.

    Attributes:
        image: ``(1, 3, H, W)`` best image found, in [0, 1], detached.
        best_loss: its objective value.
        history: per-evaluation values of each loss term (and ``"total"``).
        evaluations: number of objective evaluations (network forward+backward passes).
        status: ``"completed"``, ``"interrupted"`` or ``"diverged"``.
        message: why the level stopped early, if it did.
        seconds: wall time of the loop.
    """

    image: torch.Tensor
    best_loss: float
    history: dict[str, list[float]] = field(default_factory=dict)
    evaluations: int = 0
    status: str = "completed"
    message: str = ""
    seconds: float = 0.0


class _Tracker:
    """Records every evaluation and keeps the best image."""

    def __init__(
        self,
        x: torch.Tensor,
        on_step: StepCallback | None,
        total: int,
        weights: dict[str, float] | None = None,
    ) -> None:
        self.weights = weights or {}
        self.best = x.detach().clone()
        self.best_loss = math.inf
        self.best_count = 0
        self.last = math.inf
        self.history: dict[str, list[float]] = {}
        self.count = 0
        self.on_step = on_step
        self.total = total

    def record(self, x: torch.Tensor, loss: torch.Tensor, terms: dict[str, float]) -> None:
        value = float(loss.detach())
        if not math.isfinite(value):
            # A term is to blame when it is NaN or Inf itself or its weighted value leaves
            # float32 no room for the sum and the gradient (within 1/16 of its maximum);
            # several can be, when all the weights are scaled up together.
            limit = torch.finfo(loss.dtype).max / 16
            bad = [k for k, v in terms.items()
                   if not math.isfinite(v) or not abs(v * self.weights.get(k, 1.0)) < limit]
            raise _Diverged(bad)
        self.count += 1
        self.last = value
        for key, v in {"total": value, **terms}.items():
            self.history.setdefault(key, []).append(v)
        if value < self.best_loss:
            if not math.isfinite(self.best_loss) or (
                value < self.best_loss - STALL_TOLERANCE * abs(self.best_loss)
            ):
                self.best_count = self.count  # a real improvement, not a wobble
            self.best_loss = value
            self.best.copy_(x.detach())
        if self.on_step is not None:
            self.on_step(self.count, self.total, {"total": value, **terms})


#: Relative decrease of the best loss that counts as progress for ``patience``.
STALL_TOLERANCE = 1e-3


class _Stop(Exception):
    """The evaluation budget is spent, or the loss has stalled."""


class _Diverged(Exception):
    def __init__(self, terms: list[str]) -> None:
        super().__init__(", ".join(terms))
        self.terms = terms


class BoxLBFGS:
    """L-BFGS on the box [0, 1] without line search: one objective evaluation per step.

    A step computes the L-BFGS direction (two-loop recursion over the last
    ``history_size`` curvature pairs) over the *free* values: a value at 0 whose gradient
    is positive, or at 1 whose gradient is negative, is held at its bound. It moves ``lr``
    along that direction (the very first step, with no curvature known yet, is scaled to
    ``lr * min(1, 1 / |g|_1)`` as in :class:`torch.optim.LBFGS`) and projects onto
    [0, 1]. The curvature pair is built from the step actually taken after the
    projection, ``s = x_new - x_old``, and the change of gradient ``y``; a pair with
    ``s·y <= 1e-10`` is skipped. (Clamping after :class:`torch.optim.LBFGS`'s step
    records a step that was not taken, and its curvature estimates go wrong.)

    Args:
        x: the ``(1, 3, H, W)`` leaf tensor being optimised, inside [0, 1]; updated in place.
        lr: step length along the L-BFGS direction.
        history_size: number of curvature pairs kept.
        precondition: a symmetric positive definite operator ``P`` on ``(1, 3, H, W)``
            tensors (e.g. :func:`pyramid_preconditioner`): the initial inverse Hessian is
            ``(s·y / y·P y) P`` instead of ``(s·y / y·y) I``, and the first step goes along
            ``-P g``; None: the identity.
        box: False: ``x`` is any tensor of real numbers (a grid of colour transforms,
            :mod:`photostyle.engine.grid`), with no bounds and no projection.
    """

    def __init__(self, x: torch.Tensor, lr: float = 1.0, history_size: int = 20,
                 precondition: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 box: bool = True) -> None:
        self.x = x
        self.box = box
        self.lr = lr
        self.history_size = history_size
        self.precondition = precondition if precondition is not None else _identity
        self.pairs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # s, y, 1/s·y
        self.scale: torch.Tensor | None = None  # s·y / y·P y of the newest pair
        self.grad: torch.Tensor | None = None

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop the gradient of ``x`` (closures call this before back-propagating)."""
        self.x.grad = None

    def _evaluate(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:
        closure()
        if self.x.grad is None:
            raise RuntimeError("the closure did not compute a gradient")
        return self.x.grad.detach().clone()

    def _inverse_hessian_times(self, q: torch.Tensor) -> torch.Tensor:
        """``H q`` for the L-BFGS inverse-Hessian estimate ``H`` (two-loop recursion)."""
        alphas = []
        for s, y, rho in reversed(self.pairs):
            a = rho * (s * q).sum()
            q = q - a * y
            alphas.append(a)
        if self.pairs:
            assert self.scale is not None  # set with the newest pair
            q = self.precondition(q) * self.scale
        for (s, y, rho), a in zip(self.pairs, reversed(alphas), strict=True):
            q = q + s * (a - rho * (y * q).sum())
        return q

    def step(self, closure: Callable[[], torch.Tensor]) -> None:
        """One step; ``closure`` zeroes the gradient, evaluates the loss at ``x`` and
        back-propagates. The first call also evaluates the starting point."""
        if self.grad is None:
            self.grad = self._evaluate(closure)
        g = self.grad
        x = self.x
        with torch.no_grad():
            free = (~(((x <= 0.0) & (g > 0.0)) | ((x >= 1.0) & (g < 0.0))) if self.box
                    else torch.ones_like(g, dtype=torch.bool))
            q = g * free
            if self.pairs:
                d = -self._inverse_hessian_times(q) * free
                if not float((q * d).sum()) < 0.0:  # the estimate lost its way
                    self.pairs.clear()
            if not self.pairs:  # nothing learnt (yet): a short step downhill
                q = self.precondition(q) * free
                d = -q * min(1.0, 1.0 / max(float(q.abs().sum()), 1e-30))
            old = x.detach().clone()
            x.add_(d, alpha=self.lr)
            if self.box:
                x.clamp_(0.0, 1.0)
        g_new = self._evaluate(closure)
        with torch.no_grad():
            s = x.detach() - old
            y = g_new - g
            sy = (s * y).sum()
            if float(sy) > 1e-10:
                self.pairs.append((s, y, 1.0 / sy))
                # initial inverse-Hessian scaling, fixed until the next pair
                self.scale = sy / (y * self.precondition(y)).sum()
                if len(self.pairs) > self.history_size:
                    self.pairs.pop(0)
        self.grad = g_new


def _identity(q: torch.Tensor) -> torch.Tensor:
    return q


def pyramid_preconditioner(levels: int, boost: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """The operator ``P q = q + sum_k boost^k B_k q``, ``k = 1 .. levels``.

    ``B_k`` replaces each ``2^k x 2^k`` block of ``q`` (``(1, C, H, W)``; blocks at the
    right and bottom edges may be smaller) by its mean; levels whose blocks would exceed
    the image are left out. Each ``B_k`` is an orthogonal projection, so ``P`` is symmetric
    positive definite, with ``q·P q >= q·q``: it lifts the smooth (low-frequency) part of a
    direction by up to ``1 + boost + ... + boost^levels`` and leaves pixel-level detail
    as it is. Used as L-BFGS's initial inverse Hessian, smooth changes such as a region's
    overall colour, which the loss's curvature makes slow, move faster.
    """
    counts: dict[tuple[int, int, int], torch.Tensor] = {}

    def apply(q: torch.Tensor) -> torch.Tensor:
        out = q.clone()
        h, w = q.shape[-2:]
        for k in range(1, levels + 1):
            f = 2**k
            if f > min(h, w):
                break
            pad = (0, (-w) % f, 0, (-h) % f)
            mean = F.avg_pool2d(F.pad(q, pad), f)
            if any(pad):  # the mean over the pixels a cut block has
                key = (f, h, w)
                if key not in counts:
                    ones = torch.ones((1, 1, h, w), dtype=q.dtype, device=q.device)
                    counts[key] = F.avg_pool2d(F.pad(ones, pad), f)
                mean = mean / counts[key]
            up = F.interpolate(mean, scale_factor=f, mode="nearest")[..., :h, :w]
            out.add_(up, alpha=boost**k)
        return out

    return apply


def grid_preconditioner(levels: int, boost: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """:func:`pyramid_preconditioner` for a grid of colour transforms ``(1, 12, D, gh, gw)``
    (:mod:`photostyle.engine.grid`): block means over the grid's cells, bin by bin, plus
    ``boost`` times the mean over the luminance bins. Symmetric positive definite like the
    pyramid's; it moves a region's overall change of colour faster than its detail."""
    spatial = pyramid_preconditioner(levels, boost)

    def apply(q: torch.Tensor) -> torch.Tensor:
        n, c, d, gh, gw = q.shape
        out = spatial(q.reshape(n, c * d, gh, gw)).reshape(q.shape)
        return out + boost * q.mean(dim=2, keepdim=True).expand_as(q)

    return apply


def optimise_level(
    x0: torch.Tensor,
    objective: Objective,
    *,
    iterations: int,
    optimizer: str = "lbfgs",
    lr: float = 1.0,
    history_size: int = 20,
    patience: int = 0,
    restart: float = 0.0,
    bounds: str = "project",
    precondition: tuple[int, float] = (0, 0.0),
    on_step: StepCallback | None = None,
    term_weights: dict[str, float] | None = None,
    box: bool = True,
) -> LevelOutcome:
    """Minimise ``objective`` starting from ``x0``.

    Args:
        x0: ``(1, 3, H, W)`` starting image in [0, 1].
        objective: maps the image to ``(loss, {term: value})``; called once per evaluation.
        iterations: number of objective evaluations (L-BFGS without line search performs
            one per iteration; Adam one per step).
        optimizer: ``"lbfgs"`` (one evaluation per iteration, no line search),
            ``"lbfgs-wolfe"`` (strong-Wolfe line search: a monotone loss, but often more
            than one evaluation per iteration) or ``"adam"``.
        lr: L-BFGS initial step / Adam learning rate.
        history_size: L-BFGS memory.
        patience: stop early once ``patience`` evaluations in a row bring the best loss
            down by less than :data:`STALL_TOLERANCE` (relative); 0 never stops early.
        restart: ``"lbfgs"`` only: when an evaluation's loss exceeds the best by more than
            this fraction, go back to the best image and clear L-BFGS's memory; 0: never.
        precondition: ``(levels, boost)`` of :func:`pyramid_preconditioner` for
            :class:`BoxLBFGS`; ``levels`` 0: none.
        bounds: ``"project"``: ``"lbfgs"`` runs :class:`BoxLBFGS`; ``"clamp"``: it runs
            :class:`torch.optim.LBFGS`. Either way the image is clamped to [0, 1] before
            each evaluation (a no-op for :class:`BoxLBFGS`, which stays inside), and the
            other optimisers do the same.
        on_step: called after each evaluation with ``(count, iterations, terms)``.
        term_weights: weight of each term, to name the culprit when the loss diverges.
        box: True: ``x0`` is an image, kept in [0, 1]; False: any tensor (a grid of colour
            transforms), unbounded; only ``"lbfgs"`` with ``bounds="project"`` and
            ``"adam"`` take it.

    Returns:
        A :class:`LevelOutcome`; never raises for Ctrl-C or divergence (see ``status``).
    """
    if bounds not in BOUNDS:
        raise ValueError(f"unknown bounds {bounds!r}")
    if precondition[0] > 0 and (optimizer, bounds) != ("lbfgs", "project"):
        log.info("the preconditioner applies to L-BFGS on the box only; not used here")
    start = time.perf_counter()
    if not box and (optimizer, bounds) not in (("lbfgs", "project"), ("adam", "project"),
                                               ("adam", "clamp")):
        raise ValueError("an unbounded variable needs optimizer lbfgs (bounds project) or adam")
    x = x0.detach().clone()
    if box:
        x.clamp_(0.0, 1.0)
    x.requires_grad_(True)
    tracker = _Tracker(x, on_step, iterations, term_weights)
    status, message = "completed", ""

    def evaluate() -> torch.Tensor:
        if tracker.count >= iterations or (
            patience > 0 and tracker.count - tracker.best_count >= patience
        ):
            raise _Stop
        if box:
            with torch.no_grad():
                x.clamp_(0.0, 1.0)  # a no-op for BoxLBFGS, which stays inside [0, 1]
        loss, terms = objective(x)
        tracker.record(x, loss, terms)
        return loss

    def lbfgs(line_search: bool) -> torch.optim.Optimizer:
        # Without line search: one evaluation per step() call, driven by the loop below.
        # With it: a single step() runs every iteration within the evaluation budget.
        return torch.optim.LBFGS(
            [x], lr=lr, max_iter=iterations if line_search else 1,
            max_eval=iterations if line_search else None, history_size=history_size,
            tolerance_grad=0.0, tolerance_change=0.0,
            line_search_fn="strong_wolfe" if line_search else None,
        )

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        loss = evaluate()
        loss.backward()
        return loss

    opt: torch.optim.Optimizer | BoxLBFGS
    try:
        if iterations > 0:
            if optimizer == "lbfgs":

                def fresh() -> torch.optim.Optimizer | BoxLBFGS:
                    if bounds == "project":
                        levels, boost = precondition
                        make = pyramid_preconditioner if box else grid_preconditioner
                        return BoxLBFGS(x, lr, history_size, make(levels, boost)
                                        if levels > 0 else None, box=box)
                    return lbfgs(line_search=False)

                opt = fresh()
                for _ in range(iterations):
                    opt.step(closure)  # type: ignore[arg-type]
                    jump = tracker.last - tracker.best_loss
                    if restart > 0 and jump > restart * abs(tracker.best_loss):
                        # L-BFGS without line search can climb out of a basin and then
                        # oscillate with stale curvature pairs: go back to the best image
                        # and start a fresh memory.
                        with torch.no_grad():
                            x.copy_(tracker.best)
                        opt = fresh()
            elif optimizer == "lbfgs-wolfe":
                opt = lbfgs(line_search=True)
                opt.step(closure)  # type: ignore[arg-type]
            elif optimizer == "adam":
                opt = torch.optim.Adam([x], lr=lr)
                for _ in range(iterations):
                    opt.step(closure)  # type: ignore[arg-type]
            else:
                raise ValueError(f"unknown optimizer {optimizer!r}")
    except _Stop:
        if tracker.count < iterations:
            message = f"stopped after {tracker.count} evaluations: the loss stalled"
            log.info(message)
    except KeyboardInterrupt:
        status, message = "interrupted", "interrupted by the user"
        log.warning("interrupted after %d evaluations; keeping the best image", tracker.count)
    except _Diverged as exc:
        status = "diverged"
        message = f"the loss became NaN or Inf after {tracker.count} evaluations"
        if len(exc.terms) > 1:
            message += (f" in the {' and '.join(exc.terms)} terms; lower "
                        + " and ".join(f"--{t}-weight" for t in exc.terms)
                        + " together (only their ratios shape the result)")
        elif exc.terms:
            message += f" in the {exc.terms[0]} term; lower --{exc.terms[0]}-weight"
        else:
            message += "; lower the step size --lr"
        log.warning(message)
    if tracker.count == 0 or not math.isfinite(tracker.best_loss):
        tracker.best.copy_(x0.detach().clamp(0.0, 1.0) if box else x0.detach())
    return LevelOutcome(
        image=tracker.best.clamp_(0.0, 1.0) if box else tracker.best,
        best_loss=tracker.best_loss,
        history=tracker.history,
        evaluations=tracker.count,
        status=status,
        message=message,
        seconds=time.perf_counter() - start,
    )
