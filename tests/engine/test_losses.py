"""Loss formulas against hand-computed values, and gradients against finite differences."""

from __future__ import annotations

import pytest
import torch

from photostyle.engine import losses


def test_gram_hand_computed() -> None:
    # F has 2 channels over 3 pixels: f0 = (1, 2, 3), f1 = (0, 1, -1).
    f = torch.tensor([[[1.0, 2.0, 3.0]], [[0.0, 1.0, -1.0]]])  # (2, 1, 3)
    g = losses.gram(f)
    # G = F F^T / 3: [[1+4+9, 0+2-3], [., 0+1+1]] / 3
    expected = torch.tensor([[14.0, -1.0], [-1.0, 2.0]]) / 3
    torch.testing.assert_close(g, expected)


def test_masked_gram_hand_computed() -> None:
    f = torch.tensor([[[1.0, 2.0, 3.0]], [[0.0, 1.0, -1.0]]])
    mask = torch.tensor([[1.0, 0.0, 0.5]])
    # weighted by m^2 = (1, 0, 0.25), normalised by 1.25
    expected = torch.tensor([[1 + 0.25 * 9, 0.25 * -3], [0.25 * -3, 0.25 * 1]]) / 1.25
    torch.testing.assert_close(losses.gram(f, mask), expected)


def test_gram_with_full_mask_equals_plain() -> None:
    f = torch.randn(1, 5, 4, 6)
    torch.testing.assert_close(losses.gram(f, torch.ones(4, 6)), losses.gram(f))


def test_content_loss_hand_computed() -> None:
    target = torch.tensor([1.0, 2.0, 2.0]).view(1, 3, 1, 1)
    out = torch.tensor([1.0, 0.0, 3.0]).view(1, 3, 1, 1)
    # ||out - target||^2 = 0 + 4 + 1 = 5; ||target||^2 = 9
    torch.testing.assert_close(losses.content_loss(out, target), torch.tensor(5 / 9))


def test_tv_loss_hand_computed() -> None:
    img = torch.tensor([[0.0, 1.0], [2.0, 4.0]]).view(1, 1, 2, 2)
    # vertical diffs: 2, 3 -> mean sq 6.5; horizontal: 1, 2 -> mean sq 2.5
    torch.testing.assert_close(losses.tv_loss(img), torch.tensor(9.0))


def _target(style_feats: torch.Tensor, out_masks: torch.Tensor, style_masks: torch.Tensor,
            weights: torch.Tensor) -> losses.StyleTarget:
    return losses.StyleTarget("relu1_1", losses.masked_grams(style_feats[0], style_masks),
                              out_masks, weights)


def test_single_label_style_equals_plain_gram_loss() -> None:
    torch.manual_seed(0)
    out = torch.randn(1, 4, 5, 6)
    sty = torch.randn(1, 4, 7, 3)
    target = _target(sty, torch.ones(1, 5, 6), torch.ones(1, 7, 3), torch.ones(1))
    g_o, g_s = losses.gram(out), losses.gram(sty)
    plain = (g_o - g_s).square().sum() / g_s.square().sum()
    torch.testing.assert_close(losses.style_layer_loss(out, target), plain)


def test_two_label_style_hand_computed() -> None:
    # One channel, 4 pixels. Labels: left two pixels (0) and right two (1).
    out = torch.tensor([1.0, 1.0, 2.0, 2.0]).view(1, 1, 1, 4)
    sty = torch.tensor([2.0, 2.0, 1.0, 3.0]).view(1, 1, 1, 4)
    masks = torch.tensor([[[1.0, 1.0, 0.0, 0.0]], [[0.0, 0.0, 1.0, 1.0]]])
    weights = torch.tensor([0.25, 0.75])
    target = _target(sty, masks, masks, weights)
    # label 0: G_out = (1+1)/2 = 1, G_sty = (4+4)/2 = 4 -> (1-4)^2/16 = 9/16
    # label 1: G_out = (4+4)/2 = 4, G_sty = (1+9)/2 = 5 -> (4-5)^2/25 = 1/25
    expected = 0.25 * 9 / 16 + 0.75 * 1 / 25
    torch.testing.assert_close(losses.style_layer_loss(out, target), torch.tensor(expected))


def test_style_loss_is_mean_over_layers() -> None:
    torch.manual_seed(1)
    feats = {"relu1_1": torch.randn(1, 3, 4, 4), "relu2_1": torch.randn(1, 5, 2, 2)}
    targets = []
    for name, f in feats.items():
        s = torch.randn_like(f)
        ones = torch.ones(1, *f.shape[-2:])
        targets.append(losses.StyleTarget(name, losses.masked_grams(s[0], ones), ones,
                                          torch.ones(1)))
    per_layer = [losses.style_layer_loss(feats[t.layer], t) for t in targets]
    torch.testing.assert_close(losses.style_loss(feats, targets), sum(per_layer) / 2)


def test_losses_are_size_and_scale_invariant() -> None:
    torch.manual_seed(2)
    f, p = torch.randn(1, 8, 6, 6), torch.randn(1, 8, 6, 6)
    # scaling features (other weights) does not change content loss
    torch.testing.assert_close(losses.content_loss(3 * f, 3 * p), losses.content_loss(f, p))
    # tiling the image (other size) does not change the Gram loss
    s = torch.randn(1, 8, 6, 6)
    t1 = _target(s, torch.ones(1, 6, 6), torch.ones(1, 6, 6), torch.ones(1))
    t2 = _target(s.repeat(1, 1, 2, 2), torch.ones(1, 12, 12), torch.ones(1, 12, 12), torch.ones(1))
    torch.testing.assert_close(losses.style_layer_loss(f, t1),
                               losses.style_layer_loss(f.repeat(1, 1, 2, 2), t2))


def test_gradients_match_finite_differences() -> None:
    torch.manual_seed(3)
    x = torch.rand(1, 3, 5, 4, dtype=torch.float64, requires_grad=True)
    p = torch.rand(1, 3, 5, 4, dtype=torch.float64)
    masks = torch.rand(2, 5, 4, dtype=torch.float64)
    sty = torch.rand(1, 3, 5, 4, dtype=torch.float64)
    target = losses.StyleTarget("relu1_1", losses.masked_grams(sty[0], masks), masks,
                                torch.tensor([0.4, 0.6], dtype=torch.float64))
    assert torch.autograd.gradcheck(lambda v: losses.content_loss(v, p), (x,))
    assert torch.autograd.gradcheck(lambda v: losses.style_layer_loss(v, target), (x,))
    assert torch.autograd.gradcheck(losses.tv_loss, (x,))


def test_region_grams_backward_matches_autograd_and_finite_differences() -> None:
    # Labels that exercise every path of the hand-written backward: one mask of ones (no
    # gathering), a hard half-image mask, a soft mask overlapping it, and an empty one.
    torch.manual_seed(4)
    h, w = 6, 5
    ones = torch.ones(h, w, dtype=torch.float64)
    half = torch.zeros(h, w, dtype=torch.float64)
    half[:, :2] = 1.0
    soft = torch.rand(h, w, dtype=torch.float64) * (torch.rand(h, w) > 0.4)
    empty = torch.zeros(h, w, dtype=torch.float64)
    masks = torch.stack([ones, half, soft, empty])
    weights = torch.tensor([0.1, 0.3, 0.6, 0.0], dtype=torch.float64)
    sty = torch.rand(1, 3, h, w, dtype=torch.float64)
    target = losses.StyleTarget("relu1_1", losses.masked_grams(sty[0], masks), masks, weights)
    assert target.pixels[0] is None and target.pixels[1].numel() == 2 * h
    assert target.sizes[3] == 0

    def reference(v: torch.Tensor) -> torch.Tensor:  # the formula, differentiated by autograd
        total = v.new_zeros(())
        for c in range(3):
            g = losses.gram(v[0], masks[c])
            total = total + weights[c] * (g - target.grams[c]).square().sum() / target.norms[c]
        return total

    x = torch.rand(1, 3, h, w, dtype=torch.float64, requires_grad=True)
    ours = losses.style_layer_loss(x, target)
    (grad_ours,) = torch.autograd.grad(ours, x)
    want = reference(x)
    (grad_want,) = torch.autograd.grad(want, x)
    torch.testing.assert_close(ours, want)
    torch.testing.assert_close(grad_ours, grad_want)
    assert torch.autograd.gradcheck(lambda v: losses.style_layer_loss(v, target), (x,))


def test_flat_change_loss_hand_computed() -> None:
    img = torch.tensor([[0.0, 1.0], [2.0, 4.0]]).view(1, 1, 2, 2)
    content = torch.zeros(1, 1, 2, 2)
    everywhere = torch.ones(2, 2)
    # all flat: total variation of the change (here the image itself)
    torch.testing.assert_close(losses.flat_change_loss(img, content, everywhere),
                               losses.tv_loss(img))
    # only the top row flat: the one horizontal pair (0, 1) counts -> 1 / 2 pairs
    top = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    torch.testing.assert_close(losses.flat_change_loss(img, content, top), torch.tensor(0.5))
    # a change that is the same everywhere costs nothing, whatever the content
    base = torch.rand(1, 3, 4, 5)
    shifted = base + torch.tensor([0.1, -0.2, 0.05]).view(1, 3, 1, 1)
    assert float(losses.flat_change_loss(shifted, base, torch.ones(4, 5))) < 1e-12
    # where nothing is flat the term is silent
    assert float(losses.flat_change_loss(torch.rand(1, 3, 4, 5), base,
                                         torch.zeros(4, 5))) == 0.0


def test_flat_change_loss_gradient_matches_finite_differences() -> None:
    torch.manual_seed(4)
    x = torch.rand(1, 3, 5, 4, dtype=torch.float64, requires_grad=True)
    content = torch.rand(1, 3, 5, 4, dtype=torch.float64)
    flat = (torch.rand(5, 4) > 0.4).double()
    assert torch.autograd.gradcheck(lambda v: losses.flat_change_loss(v, content, flat), (x,))


# --- the per-region histogram loss (issue 22) -------------------------------------------

def test_match_histogram_by_hand() -> None:
    from photostyle.engine.losses import match_histogram

    values = torch.tensor([[3.0, 1.0, 2.0], [0.5, 0.7, 0.1]])
    reference = torch.tensor([[10.0, 20.0, 30.0], [1.0, 2.0, 3.0]])
    # ranks carry over: the smallest value gets the reference's smallest, and so on
    assert match_histogram(values, reference).tolist() == [[30.0, 10.0, 20.0], [2.0, 3.0, 1.0]]
    # two samples against four sorted reference values 0, 1, 2, 3 (at quantiles 1/8, 3/8,
    # 5/8, 7/8): the samples sit at quantiles 1/4 and 3/4, i.e. 0.5 and 2.5
    out = match_histogram(torch.tensor([[5.0, -1.0]]), torch.tensor([[0.0, 1.0, 2.0, 3.0]]))
    assert out.tolist() == [[2.5, 0.5]]


def test_match_histogram_sort_is_torchs_up_to_ties(monkeypatch) -> None:
    """The CPU path sorts with NumPy; equal values (a ReLU's zeros) may be ranked in another
    order, but every other value gets the same target, and the loss through the ReLU and
    its gradient are the same as with PyTorch's argsort."""
    from photostyle.engine import losses

    gen = torch.Generator().manual_seed(3)
    z = torch.randn(6, 700, generator=gen, requires_grad=True)
    reference = torch.randn(6, 450, generator=gen).sort(dim=1).values

    def loss_and_grad() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        z.grad = None
        f = torch.relu(z)
        matched = losses.match_histogram(f.detach(), reference)
        loss = (f - matched).square().sum()
        loss.backward()
        assert z.grad is not None
        return matched, loss.detach(), z.grad.clone()

    ours = loss_and_grad()
    monkeypatch.setattr(losses, "_argsort_rows", lambda v: v.argsort(dim=1))
    torchs = loss_and_grad()
    positive = z.detach() > 0
    assert (~positive).sum() > 1000  # many ties
    assert torch.equal(ours[0][positive], torchs[0][positive])
    assert torch.equal(ours[0].sort(dim=1).values, torchs[0].sort(dim=1).values)
    assert torch.allclose(ours[1], torchs[1], rtol=1e-6)
    assert torch.equal(ours[2], torchs[2])


def _hist_target(style: torch.Tensor, style_masks: torch.Tensor, out_masks: torch.Tensor):
    from photostyle.engine.losses import HistogramTarget

    weights = out_masks.flatten(1).sum(1) / out_masks.sum()
    return HistogramTarget.build("relu1_1", style, style_masks, out_masks, weights)


def test_histogram_loss_gradient_matches_finite_differences() -> None:
    from photostyle.engine.losses import histogram_layer_loss

    torch.manual_seed(0)
    style = torch.randn(1, 4, 6, 8, dtype=torch.float64) * 2 + 1
    masks = torch.zeros(2, 6, 8, dtype=torch.float64)
    masks[0, :, :4] = 1
    masks[1, :, 4:] = 1
    target = _hist_target(style, masks, masks)
    x = torch.randn(1, 4, 6, 8, dtype=torch.float64, requires_grad=True)
    loss = histogram_layer_loss(x, target)
    (grad,) = torch.autograd.grad(loss, x)
    eps = 1e-6  # far below the gaps between samples: no rank changes
    for index in [(0, 0, 0, 0), (0, 1, 3, 5), (0, 3, 5, 7), (0, 2, 2, 2)]:
        plus, minus = x.detach().clone(), x.detach().clone()
        plus[index] += eps
        minus[index] -= eps
        numeric = (histogram_layer_loss(plus, target) - histogram_layer_loss(minus, target)) / (
            2 * eps)
        assert float(grad[index]) == pytest.approx(float(numeric), rel=1e-5, abs=1e-10)


def test_histogram_loss_compares_each_region_with_its_own_style_region() -> None:
    from photostyle.engine.losses import histogram_layer_loss

    torch.manual_seed(1)
    masks = torch.zeros(2, 6, 8)
    masks[0, :, :4] = 1  # left: label 0
    masks[1, :, 4:] = 1  # right: label 1
    style = torch.empty(1, 3, 6, 8)
    style[..., :4] = torch.rand(1, 3, 6, 4)  # left: values in [0, 1]
    style[..., 4:] = 5 + torch.rand(1, 3, 6, 4)  # right: in [5, 6]
    target = _hist_target(style, masks, masks)
    # an output whose left half is a permutation of the style's left values: matched there
    x = style.clone()
    x[..., 4:] = torch.rand(1, 3, 6, 4)  # the right half has the left's distribution
    x.requires_grad_(True)
    loss = histogram_layer_loss(x, target)
    (grad,) = torch.autograd.grad(loss, x)
    assert float(loss.detach()) > 0
    assert float(grad[..., :4].abs().max()) == 0.0  # nothing to change on the left
    assert float(grad[..., 4:].abs().min()) > 0.0  # every right pixel pulled up
    assert float(grad[..., 4:].max()) < 0  # towards the larger values of its style region
    # the same output with the labels' style regions swapped: now the left is wrong too
    swapped = _hist_target(style, masks.flip(0), masks)
    assert float(histogram_layer_loss(x.detach(), swapped)) > float(loss)


def test_histogram_term_runs_in_a_transfer_only_when_on(tmp_path, shallow_vgg_file) -> None:
    from photostyle import transfer
    from photostyle.engine.config import TransferConfig

    from ..conftest import gradient_image

    base = TransferConfig(vgg_weights=str(shallow_vgg_file), content_layer="relu2_1",
                          style_layers=("relu1_1",), size=32, iterations=2, scales=1,
                          segment="none")
    off = transfer(gradient_image(32, 40), gradient_image(32, 40, 1), base)
    assert "hist" not in off.report["levels"][0]["final"]
    assert base.layers_in_use() == ["relu2_1", "relu1_1"]
    on_config = base.replace(hist_weight=100.0, hist_layers=("relu1_1", "relu2_1"),
                             style_weight=0.0)
    assert on_config.layers_in_use() == ["relu2_1", "relu1_1"]
    on = transfer(gradient_image(32, 40), gradient_image(32, 40, 1), on_config)
    final = on.report["levels"][0]["final"]
    assert final["hist"] > 0 and "style" not in final
    assert on.report["config"]["hist_layers"] == ["relu1_1", "relu2_1"]
