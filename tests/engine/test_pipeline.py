"""transfer(): pyramid, determinism, interruption, divergence, reports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from photostyle import TransferConfig, transfer
from photostyle.engine.network import VGGFeatures
from photostyle.errors import ConfigError

from ..conftest import gradient_image, random_vgg_state

#: no colour match, so that results can be compared with the optimisation's own
#: (test_colour_match_recolours_the_optimised_image_region_by_region turns it on)
SMALL = dict(content_layer="relu2_1", style_layers=("relu1_1", "relu2_1"), size=32, scales=2,
             iterations=(4, 3), segment="none", colour_match=0.0)


@pytest.fixture(scope="module")
def extractor() -> VGGFeatures:
    return VGGFeatures(["relu1_1", "relu2_1"], random_vgg_state("relu2_1"))


def test_pyramid_sizes_and_report(extractor: VGGFeatures) -> None:
    content, style = gradient_image(30, 45), gradient_image(50, 40, 1)
    result = transfer(content, style, extractor=extractor, **SMALL)
    assert result.status == "completed"
    assert result.image.shape == (30, 45, 3)  # the content's own resolution
    assert result.working_image.shape == (21, 32, 3)
    levels = result.report["levels"]
    assert [lv["size"] for lv in levels] == [[11, 16], [21, 32]]
    assert [lv["evaluations"] for lv in levels] == [4, 3]
    assert set(levels[0]["history"]) == {"total", "content", "style", "tv", "flat", "matting"}
    for key in ("load", "masks", "network", "targets", "laplacian", "optimise", "smooth"):
        assert key in result.report["timings"]
    assert result.report["versions"]["torch"] == torch.__version__


def test_reproducible_for_a_seed(extractor: VGGFeatures) -> None:
    content, style = gradient_image(24, 24), gradient_image(24, 24, 1)
    a = transfer(content, style, extractor=extractor, init="noise", seed=7, **SMALL)
    b = transfer(content, style, extractor=extractor, init="noise", seed=7, **SMALL)
    c = transfer(content, style, extractor=extractor, init="noise", seed=8, **SMALL)
    np.testing.assert_array_equal(a.image, b.image)
    assert not np.array_equal(a.image, c.image)


def test_coarse_result_is_carried_up_as_residual(extractor: VGGFeatures) -> None:
    # With zero iterations everywhere, the pyramid must hand the content back unchanged.
    content = gradient_image(32, 32)
    result = transfer(content, gradient_image(32, 32, 1), extractor=extractor, smooth="none",
                      init="content", **{**SMALL, "iterations": (0, 0)})
    from photostyle.files.images import resize

    np.testing.assert_allclose(result.working_image, resize(content, (32, 32)), atol=1e-6)


def test_a_finer_level_without_iterations_only_carries_the_coarse_result_up(
        extractor: VGGFeatures, monkeypatch: pytest.MonkeyPatch) -> None:
    # iterations (4, 0): one problem (network targets, Laplacian) at the coarse size only;
    # the finer level's image is its content plus the coarse change, upsampled bilinearly
    import torch.nn.functional as F

    import photostyle.engine.pipeline as pipeline
    from photostyle.files.images import resize

    real, sizes = pipeline.LevelProblem, []

    def counted(extractor, content, *args, **kwargs):
        sizes.append(tuple(content.shape[-2:]))
        return real(extractor, content, *args, **kwargs)

    monkeypatch.setattr(pipeline, "LevelProblem", counted)
    content, style = gradient_image(32, 32), gradient_image(32, 32, 1)[..., ::-1].copy()
    one = transfer(content, style, extractor=extractor, smooth="none",
                   **{**SMALL, "scales": 1, "size": 16, "iterations": 4})
    two = transfer(content, style, extractor=extractor, smooth="none",
                   **{**SMALL, "iterations": (4, 0)})
    assert sizes == [(16, 16), (16, 16)]  # no problem built at 32 px
    assert [lv["evaluations"] for lv in two.report["levels"]] == [4, 0]
    coarse_content = torch.from_numpy(resize(content, (16, 16))).permute(2, 0, 1)[None]
    change = torch.from_numpy(one.working_image).permute(2, 0, 1)[None] - coarse_content
    up = F.interpolate(change, size=(32, 32), mode="bilinear", align_corners=False)
    expected = (torch.from_numpy(resize(content, (32, 32))).permute(2, 0, 1)[None] + up
                ).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    assert two.working_image.shape == (32, 32, 3)
    np.testing.assert_allclose(two.working_image, expected, atol=1e-5)


def test_style_loss_decreases(extractor: VGGFeatures) -> None:
    content, style = gradient_image(32, 32), gradient_image(32, 32, 1)[..., ::-1].copy()
    result = transfer(content, style, extractor=extractor, matting_weight=0,
                      **{**SMALL, "scales": 1, "iterations": 20})
    history = result.report["levels"][0]["history"]["style"]
    assert min(history) < 0.5 * history[0]


def test_adam_runs(extractor: VGGFeatures) -> None:
    result = transfer(gradient_image(20, 20), gradient_image(20, 20, 1), extractor=extractor,
                      optimizer="adam", lr=0.02, **SMALL)
    assert result.report["evaluations"] == 7


def test_interrupt_keeps_best_image(extractor: VGGFeatures) -> None:
    calls = []

    def progress(level, n_levels, count, total, terms):
        calls.append((level, count))
        if level == 1 and count == 2:
            raise KeyboardInterrupt

    result = transfer(gradient_image(24, 24), gradient_image(24, 24, 1), extractor=extractor,
                      progress=progress, **{**SMALL, "iterations": (3, 5)})
    assert result.status == "interrupted"
    assert result.report["status"] == "interrupted"
    assert calls[-1] == (1, 2)
    assert result.image.shape == (24, 24, 3) and np.isfinite(result.image).all()


def test_divergence_is_reported_with_the_setting(extractor: VGGFeatures) -> None:
    result = transfer(gradient_image(20, 20), gradient_image(20, 20, 1), extractor=extractor,
                      style_weight=3e38, init="noise",
                      **{**SMALL, "scales": 1, "iterations": 3})
    assert result.status == "diverged"
    assert "lower --style-weight" in result.message and "content" not in result.message
    assert np.isfinite(result.image).all()


def test_snapshots(extractor: VGGFeatures, tmp_path: Path) -> None:
    transfer(gradient_image(20, 20), gradient_image(20, 20, 1), extractor=extractor,
             save_every=2, snapshot_dir=tmp_path / "snaps", **SMALL)
    assert sorted(p.name for p in (tmp_path / "snaps").iterdir()) == [
        "level0-00002.png", "level0-00004.png", "level1-00002.png"]


def test_watch_sees_every_evaluated_image_and_can_stop_the_run(extractor: VGGFeatures) -> None:
    seen: list[tuple[int, int, tuple[int, ...], float, float]] = []

    def watch(level: int, count: int, image: np.ndarray) -> None:
        seen.append((level, count, image.shape, float(image.min()), float(image.max())))

    transfer(gradient_image(20, 30), gradient_image(20, 20, 1), extractor=extractor,
             watch=watch, **SMALL)
    assert [(lv, c) for lv, c, *_ in seen] == [(0, 1), (0, 2), (0, 3), (0, 4),
                                                (1, 1), (1, 2), (1, 3)]
    assert seen[0][2] == (10, 15, 3) and seen[-1][2] == (20, 30, 3)  # working sizes
    assert all(0.0 <= lo <= hi <= 1.0 for *_, lo, hi in seen)

    def stop(level: int, count: int, image: np.ndarray) -> None:
        if (level, count) == (1, 2):
            raise KeyboardInterrupt  # a web page's cancel button

    result = transfer(gradient_image(20, 30), gradient_image(20, 20, 1), extractor=extractor,
                      watch=stop, **SMALL)
    assert result.status == "interrupted" and result.look is not None
    assert result.report["levels"][1]["evaluations"] == 2


def test_mask_for_one_image_only(extractor: VGGFeatures) -> None:
    with pytest.raises(ConfigError, match="without a style mask"):
        transfer(gradient_image(20, 20), gradient_image(20, 20, 1), extractor=extractor,
                 content_mask=np.zeros((20, 20), np.uint8), **SMALL)


def test_config_validation_names_the_setting() -> None:
    with pytest.raises(ConfigError, match="^size:"):
        TransferConfig(size=0)
    with pytest.raises(ConfigError, match="^iterations:"):
        TransferConfig(scales=3, iterations=(1, 2))
    with pytest.raises(ConfigError, match="^style_layers: unknown VGG19 layer"):
        TransferConfig(style_layers="relu1_1,foo")
    with pytest.raises(ConfigError, match="^matting_weight: must not be negative"):
        TransferConfig(matting_weight=-1)
    with pytest.raises(ConfigError, match="^tv_weight: must be finite"):
        TransferConfig(tv_weight=float("nan"))
    assert TransferConfig(iterations="5").iterations_per_level() == (5, 5)


def test_default_schedule_and_the_presets_that_keep_the_previous_one() -> None:
    config = TransferConfig()
    assert config.level_sizes() == (200, 400)
    assert config.iterations_per_level() == (40, 20)
    assert TransferConfig(scales=3).iterations_per_level() == (40, 40, 20)
    assert TransferConfig(scales=1).iterations_per_level() == (20,)
    assert config.to_dict()["iterations"] == [40, 20]
    assert config.content_layer == "relu3_1"
    # the previous default (schedule and content layer) stays a preset; quality keeps both
    from photostyle.engine.config import preset_config

    for name in ("strong", "quality"):
        assert preset_config(name).iterations_per_level() == (80, 40)
        assert preset_config(name).content_layer == "relu3_2"
    assert preset_config("quality").size == 512
    assert preset_config("strong", content_layer="relu2_2").content_layer == "relu2_2"


def test_level_too_small_for_deep_layers_is_explained() -> None:
    with pytest.raises(ConfigError, match=r"too small for layer relu5_1 .*16 px"):
        transfer(gradient_image(10, 400), gradient_image(20, 20, 1), vgg_weights="random",
                 size=64, scales=1, segment="none", content_layer="relu4_2",
                 style_layers=("relu1_1", "relu5_1"))


def test_transfer_init_is_the_region_colour_transfer(extractor: VGGFeatures) -> None:
    from photostyle.engine.colour import region_colour_transfer
    from photostyle.engine.masks import MaskSet

    content, style = gradient_image(32, 32), gradient_image(32, 32, 1)[..., ::-1].copy()
    result = transfer(content, style, extractor=extractor, smooth="none",
                      **{**SMALL, "scales": 1, "iterations": 0})
    expected = region_colour_transfer(content, style, MaskSet.single((32, 32), (32, 32)))
    np.testing.assert_allclose(result.working_image, expected, atol=1e-6)


def test_colour_match_recolours_the_optimised_image_region_by_region(
        extractor: VGGFeatures) -> None:
    """``colour_match`` is the per-region colour map applied to the optimised image at the
    working size (style resized as the optimisation saw it), before smoothing; the
    optimisation itself is untouched."""
    from photostyle.engine.colour import region_colour_transfer
    from photostyle.engine.masks import MaskSet
    from photostyle.engine.objective import _style_size
    from photostyle.files.images import resize

    content, style = gradient_image(32, 32), gradient_image(40, 48, 1)[..., ::-1].copy()
    plain = transfer(content, style, extractor=extractor, smooth="none", **SMALL)
    matched = transfer(content, style, extractor=extractor, smooth="none",
                       **{**SMALL, "colour_match": 0.7, "colour_match_gain": 2.0})
    work = plain.working_image
    style_work = resize(style, _style_size(style.shape[:2], work.shape[0] * work.shape[1]))
    expected = region_colour_transfer(work, style_work, MaskSet.single((32, 32), (40, 48)),
                                      strength=0.7, gain_range=(0.25, 2.0))
    np.testing.assert_allclose(matched.working_image, expected, atol=1e-6)
    assert np.abs(matched.working_image - work).max() > 0.02  # it did change the colours
    assert "colour" in matched.report["timings"] and "colour" not in plain.report["timings"]


def test_interrupt_while_preparing_a_finer_level_keeps_the_coarse_result(
        extractor: VGGFeatures, monkeypatch: pytest.MonkeyPatch) -> None:
    import photostyle.engine.pipeline as pipeline

    real = pipeline.LevelProblem
    calls = []

    def interrupted_second_time(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # e.g. Ctrl-C while the finer Laplacian is built
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "LevelProblem", interrupted_second_time)
    result = transfer(gradient_image(24, 24), gradient_image(24, 24, 1), extractor=extractor,
                      **SMALL)
    assert result.status == "interrupted"
    assert len(result.report["levels"]) == 1
    assert result.working_image.shape == (12, 12, 3)
    assert result.image.shape == (24, 24, 3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_runs_every_step_on_the_gpu(extractor: VGGFeatures) -> None:
    from photostyle.engine.matting import MattingTerm

    seen: list[torch.device] = []
    original = MattingTerm.__call__

    def spy(self: MattingTerm, image: torch.Tensor) -> torch.Tensor:
        seen.append(image.device)
        assert isinstance(self.matrix, torch.Tensor) and self.matrix.device.type == "cuda"
        return original(self, image)

    content, style = gradient_image(30, 45), gradient_image(50, 40, 1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(MattingTerm, "__call__", spy)
        gpu = transfer(content, style, extractor=extractor, device="cuda", **SMALL)
    assert gpu.report["device"].startswith("cuda")
    assert seen and all(d.type == "cuda" for d in seen)
    auto = transfer(content, style, extractor=extractor.cpu(), device="auto", **SMALL)
    assert auto.report["device"].startswith("cuda")
    cpu = transfer(content, style, extractor=extractor.cpu(), device="cpu", **SMALL)
    # same problem, same start: the GPU result agrees with the CPU one to rounding
    assert np.abs(gpu.image - cpu.image).mean() < 0.02


def test_cuda_request_without_a_gpu_is_a_config_error(extractor: VGGFeatures) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ConfigError, match="CUDA"):
        transfer(gradient_image(16, 16), gradient_image(16, 16, 1), extractor=extractor,
                 device="cuda", **SMALL)


def test_flat_weight_keeps_the_change_smooth_where_the_content_is_flat(
        extractor: VGGFeatures) -> None:
    from photostyle.engine.metrics import flat_mask

    content = gradient_image(40, 48)
    content[:, :24] = 0.6  # a plain left half
    style = gradient_image(40, 48, 2)
    settings = dict(SMALL, scales=1, iterations=(15,), size=48, smooth="none",
                    matting_weight=0.0, init="content")
    runs = {w: transfer(content, style, extractor=extractor, flat_weight=w, **settings)
            for w in (0.0, 1e4)}
    assert "flat" in runs[1e4].report["levels"][-1]["history"]
    assert "flat" not in runs[0.0].report["levels"][-1]["history"]
    flat = flat_mask(content)
    assert flat[:, :14].all()

    def roughness(image: np.ndarray) -> float:
        change = image - content
        return float(np.abs(np.diff(change[:, :14], axis=1)).mean())

    assert roughness(runs[1e4].image) < 0.5 * roughness(runs[0.0].image)
