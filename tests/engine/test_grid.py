"""The bilateral grid of colour transforms (variable="grid"): slicing, rendering, smoothness,
fitting, gradients, and a transfer that optimises a grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from photostyle import TransferConfig, transfer
from photostyle.engine import grid
from photostyle.engine.network import VGGFeatures
from photostyle.engine.optimize import optimise_level
from photostyle.errors import ConfigError

from ..conftest import gradient_image, random_vgg_state


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)[None].contiguous()


def test_grid_shape_follows_the_aspect_ratio() -> None:
    assert grid.grid_shape(100, 200, 16, 8) == (8, 9, 17)  # 16 cells: 17 points
    assert grid.grid_shape(200, 100, 16, 8) == (8, 17, 9)
    assert grid.grid_shape(5, 400, 4, 1) == (2, 2, 5)  # at least 2 points a side


def test_identity_grid_renders_the_content() -> None:
    content = _tensor(gradient_image(20, 30))
    g = grid.identity_grid(20, 30, 4, 8)
    assert g.shape == (1, 12, 8, 5, 5) or g.shape[:2] == (1, 12)
    torch.testing.assert_close(grid.render(g, content), content, atol=1e-6, rtol=0)


def test_a_constant_transform_is_applied_as_a_matrix_and_offset() -> None:
    content = _tensor(gradient_image(12, 16, 3))
    a = torch.tensor([[0.5, 0.2, 0.0], [0.1, 0.9, 0.0], [0.0, 0.3, 0.4]])
    b = torch.tensor([0.1, -0.05, 0.2])
    g = grid.identity_grid(12, 16, 3, 4)
    g[:, :9] = a.reshape(9, 1, 1, 1)
    g[:, 9:] = b.reshape(3, 1, 1, 1)
    expected = torch.einsum("ij,bjhw->bihw", a, content) + b.reshape(1, 3, 1, 1)
    torch.testing.assert_close(grid.apply_coefficients(
        grid.slice_coefficients(g, grid.guide(content)), content), expected, atol=1e-6,
        rtol=0)


def test_slicing_is_trilinear_in_space_and_luminance() -> None:
    # A grid whose values are a linear function of (x, y, z) slices to the same function at
    # every pixel: x and y run over the image, z is the pixel's luminance.
    content = _tensor(gradient_image(9, 13, 5))
    d, gh, gw = grid.grid_shape(9, 13, 4, 5)
    z, y, x = torch.meshgrid(torch.linspace(0, 1, d), torch.linspace(0, 1, gh),
                             torch.linspace(0, 1, gw), indexing="ij")
    g = torch.zeros((1, 12, d, gh, gw))
    g[0, 0], g[0, 1], g[0, 2] = x, y, z
    coeffs = grid.slice_coefficients(g, grid.guide(content))
    lum = 0.299 * content[0, 0] + 0.587 * content[0, 1] + 0.114 * content[0, 2]
    torch.testing.assert_close(coeffs[0, 0], torch.linspace(0, 1, 13).expand(9, 13),
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(coeffs[0, 1], torch.linspace(0, 1, 9)[:, None].expand(9, 13),
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(coeffs[0, 2], lum, atol=1e-5, rtol=0)


def test_the_output_is_clamped_to_the_unit_range() -> None:
    content = _tensor(gradient_image(8, 8))
    g = grid.identity_grid(8, 8, 2, 2)
    g[:, 9:] = 2.0  # offset far above white
    assert float(grid.render(g, content).min()) == 1.0


def test_smoothness_by_hand() -> None:
    g = grid.identity_grid(8, 8, 1, 2)  # (1, 12, 2, 2, 2)
    assert float(grid.grid_smoothness(g)) == 0.0  # the identity everywhere
    g[0, 9, :, :, 1] += 1.0  # offset of red: one step of 1 along x between 2 points
    # dx: 12 channels x 2 x 2 x 1 differences, 4 of them equal 1 -> mean 4/48
    assert float(grid.grid_smoothness(g)) == pytest.approx(4 / 48)
    g = grid.identity_grid(8, 8, 1, 2)
    g[0, 0, 1] += 1.0  # A[0, 0] one higher in the upper luminance bin: counts as 0.5
    assert float(grid.grid_smoothness(g, intensity=2.0)) == pytest.approx(2.0 * 4 * 0.25 / 48)


def test_fit_recovers_a_global_colour_transform() -> None:
    content = _tensor(gradient_image(24, 32, 2))
    a = torch.tensor([[0.8, 0.1, 0.0], [0.0, 0.7, 0.2], [0.1, 0.0, 0.6]])
    target = (torch.einsum("ij,bjhw->bihw", a, content) + 0.1).clamp(0, 1)
    fitted = grid.fit_grid(content, target, cells=4, bins=4, steps=100)
    error = (grid.render(fitted, content) - target).abs().mean()
    assert float(error) < 5e-3


def test_render_gradient_matches_finite_differences() -> None:
    content = _tensor(gradient_image(6, 7, 1)).double() * 0.8 + 0.1
    g = (grid.identity_grid(6, 7, 2, 3) * 0.9).double()
    g[:, 9:] = 0.05
    g.requires_grad_(True)
    weights = torch.rand((1, 3, 6, 7), generator=torch.Generator().manual_seed(0)).double()

    def f(values: torch.Tensor) -> torch.Tensor:
        return (grid.render(values, content) * weights).sum() + grid.grid_smoothness(values)

    assert torch.autograd.gradcheck(f, (g,), eps=1e-6, atol=1e-6)


def test_unbounded_variable_leaves_the_unit_box() -> None:
    target = torch.tensor([[-3.0, 0.5, 4.0]])

    def objective(x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        loss = (x - target).square().sum()
        return loss, {"q": float(loss.detach())}

    out = optimise_level(torch.zeros(1, 3), objective, iterations=20, box=False)
    torch.testing.assert_close(out.image, target, atol=1e-4, rtol=0)
    boxed = optimise_level(torch.zeros(1, 3), objective, iterations=20)
    torch.testing.assert_close(boxed.image, torch.tensor([[0.0, 0.5, 1.0]]), atol=1e-4,
                               rtol=0)


@pytest.fixture(scope="module")
def extractor() -> VGGFeatures:
    return VGGFeatures(["relu1_1", "relu2_1"], random_vgg_state("relu2_1"))


SMALL = dict(content_layer="relu2_1", style_layers=("relu1_1", "relu2_1"), size=32, scales=2,
             iterations=(6, 3), segment="none", variable="grid", grid_cells=4, grid_bins=4)


def test_transfer_optimises_a_grid(extractor: VGGFeatures) -> None:
    content, style = gradient_image(30, 45), gradient_image(50, 40, 1)[..., ::-1].copy()
    result = transfer(content, style, extractor=extractor, smooth="none", **SMALL)
    assert result.status == "completed"
    levels = result.report["levels"]
    assert [lv["evaluations"] for lv in levels] == [6, 3]
    assert "grid" in levels[0]["history"]
    history = levels[0]["history"]["style"]
    assert min(history) < history[0]  # the look moves towards the style
    # the result is a look of the grid's kind: a grid of the same size reproduces it
    work = torch.from_numpy(result.working_image).permute(2, 0, 1)[None]
    from photostyle.files.images import resize

    small = _tensor(resize(content, result.working_image.shape[:2]))
    refit = grid.fit_grid(small, work, cells=4, bins=4, steps=200, smoothness=0.0)
    # (the pixels variable, the same run: 1.8e-3; the grid: under 1e-4)
    assert float((grid.render(refit, small) - work).abs().mean()) < 5e-4


def test_grid_starts_from_the_region_colour_transfer(extractor: VGGFeatures) -> None:
    content, style = gradient_image(30, 45), gradient_image(50, 40, 1)[..., ::-1].copy()
    zero = {**SMALL, "iterations": (0, 0)}
    start = transfer(content, style, extractor=extractor, smooth="none", **zero)
    same = transfer(content, style, extractor=extractor, smooth="none", init="content", **zero)
    from photostyle.files.images import resize

    np.testing.assert_allclose(same.working_image, resize(content, (21, 32)), atol=1e-5)
    preview = transfer(content, style, extractor=extractor, smooth="none",
                       variable="pixels", **{k: v for k, v in zero.items()
                                             if k not in ("variable", "grid_cells",
                                                          "grid_bins")})
    # the fitted grid comes close to the per-region transfer it was fitted to
    assert np.abs(start.working_image - preview.working_image).mean() < 0.03


def test_grid_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="init"):
        TransferConfig(variable="grid", init="noise")
    with pytest.raises(ConfigError, match="optimizer"):
        TransferConfig(variable="grid", optimizer="lbfgs-wolfe")
    with pytest.raises(ConfigError, match="grid_bins"):
        TransferConfig(grid_bins=1)
    with pytest.raises(ConfigError, match="variable"):
        TransferConfig(variable="pixel")


def _some_grid(h: int, w: int) -> torch.Tensor:
    g = grid.identity_grid(h, w, 3, 4)
    noise = torch.randn(g.shape, generator=torch.Generator().manual_seed(1))
    return g + 0.1 * noise


def test_full_resolution_render_is_the_slicing_tile_by_tile(monkeypatch) -> None:
    content = gradient_image(40, 30, 4)
    g = _some_grid(40, 30)
    monkeypatch.setattr(grid, "TILE_ROWS", 7)  # several tiles, the last one short
    out = grid.render_array(g, content)
    expected = grid.render(g, _tensor(content))[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(out, expected, atol=1e-5)
    # strength 0: the content exactly; strength 1/2: half the change of the transforms
    np.testing.assert_allclose(grid.render_array(g, content, 0.0), content, atol=1e-6)
    half = grid.render_array(g, content, 0.5)
    unclipped = (expected > 0.01) & (expected < 0.99)
    np.testing.assert_allclose(half[unclipped], ((content + expected) / 2)[unclipped],
                               atol=1e-5)


def test_coefficient_maps_reproduce_the_render() -> None:
    content = gradient_image(20, 24, 2)
    g = _some_grid(20, 24)
    a, b = grid.coefficient_maps(g, content)
    assert a.shape == (20, 24, 3, 3) and b.shape == (20, 24, 3)
    out = np.clip(np.einsum("hwij,hwj->hwi", a, content) + b, 0, 1)
    np.testing.assert_allclose(out, grid.render_array(g, content), atol=1e-5)


def test_a_saved_grid_look_renders_the_grid_at_any_size(extractor: VGGFeatures,
                                                        tmp_path) -> None:
    from photostyle.engine.pipeline import apply_look
    from photostyle.engine.transforms import Look

    content, style = gradient_image(30, 45), gradient_image(50, 40, 1)[..., ::-1].copy()
    smoothed = transfer(content, style, extractor=extractor, **SMALL)
    assert smoothed.look is not None and smoothed.look.grid is None  # the smoothed maps
    assert smoothed.look.info["smooth"] == "local-affine"
    result = transfer(content, style, extractor=extractor, smooth="none", **SMALL)
    assert result.look is not None and result.look.grid is not None
    assert result.look.info["smooth"] == "grid"
    path = result.look.save(tmp_path / "look.transforms.npz")
    look = Look.load(path)
    np.testing.assert_array_equal(look.grid, result.look.grid)
    again = apply_look(look, content)
    np.testing.assert_allclose(again.image, result.image, atol=1e-6)
    big = gradient_image(60, 90)  # the same photo at twice the size: sliced there
    np.testing.assert_allclose(apply_look(look, big).image,
                               grid.render_array(look.grid, big), atol=1e-6)


def test_a_look_file_with_a_bad_grid_is_refused(tmp_path) -> None:
    from photostyle.engine.transforms import Look
    from photostyle.errors import InputError

    a = np.tile(np.eye(3, dtype=np.float32), (4, 4, 1, 1))
    b = np.zeros((4, 4, 3), np.float32)
    bad = Look(a, b, {}, grid=np.zeros((1, 11, 2, 2, 2), np.float32))
    path = bad.save(tmp_path / "bad.npz")
    with pytest.raises(InputError, match="grid"):
        Look.load(path)
    nan = np.full((1, 12, 2, 2, 2), np.nan, np.float32)
    path = Look(a, b, {}, grid=nan).save(tmp_path / "nan.npz")
    with pytest.raises(InputError, match="NaN"):
        Look.load(path)


def test_each_region_reads_only_its_own_block_of_bins() -> None:
    # left half region 0, right half region 1 (and one unlabelled pixel: a region of its own)
    ids = np.zeros((10, 12), np.int32)
    ids[:, 6:] = 1
    ids[0, 0] = -1
    regions, blocks = grid.region_map(ids, (10, 12))
    assert blocks == 3 and int(regions[0, 0, 0, 0]) == 2 and int(regions[0, 0, 5, 7]) == 1
    # at a size where the one unlabelled pixel vanishes, the grid keeps its depth (a grid
    # carried from a coarse level to the next must be read the same way)
    inner = np.zeros((10, 12), np.int32)
    inner[:, 6:] = 1
    inner[5, 5] = -1  # not sampled at 3 x 4
    coarse, coarse_blocks = grid.region_map(inner, (3, 4))
    assert coarse_blocks == 3 and not bool((coarse == 2).any())
    assert grid.region_map(inner, (10, 12))[1] == 3
    g = grid.identity_grid(10, 12, 2, 4 * blocks)  # 4 bins per region
    g[:, 9, 0:4] = 0.1   # region 0: red offset 0.1
    g[:, 9, 4:8] = 0.5   # region 1: red offset 0.5
    g[:, 9, 8:12] = 0.9  # unlabelled
    content = _tensor(gradient_image(10, 12, 3))
    coeffs = grid.slice_coefficients(g, grid.guide(content), regions=regions, blocks=blocks)
    red = coeffs[0, 9].numpy()
    np.testing.assert_allclose(red[ids == 0], 0.1, atol=1e-6)  # up to the border, no blend
    np.testing.assert_allclose(red[ids == 1], 0.5, atol=1e-6)
    assert red[0, 0] == pytest.approx(0.9)
    # no smoothness is charged between one region's bins and the next's
    assert float(grid.grid_smoothness(g, blocks=blocks)) == 0.0
    assert float(grid.grid_smoothness(g)) > 0.0


def test_a_transfer_with_a_grid_per_region(extractor: VGGFeatures) -> None:
    content, style = gradient_image(32, 40), gradient_image(32, 40, 1)[..., ::-1].copy()
    labels = np.zeros((32, 40), np.int32)
    labels[16:] = 1
    from photostyle.engine.masks import LabelMap

    masks = {"content_mask": LabelMap(labels, ["top", "bottom"], "labels", "c"),
             "style_mask": LabelMap(labels, ["top", "bottom"], "labels", "s")}
    settings = {**SMALL, "segment": "none", "grid_regions": True}
    result = transfer(content, style, extractor=extractor, **masks, **settings)
    assert result.status == "completed"
    assert "grid" in result.report["levels"][0]["history"]
    with pytest.raises(ConfigError, match="grid_regions"):
        TransferConfig(variable="grid", grid_regions=True, smooth="none")
