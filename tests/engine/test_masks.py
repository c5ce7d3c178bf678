"""Masks: both file kinds, messy edges, label alignment, soft per-layer masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from photostyle.engine.masks import (
    PALETTE,
    MaskSet,
    align_labels,
    fit_to_image,
    layer_masks,
    parse_mask_array,
    read_mask,
    soft_masks,
)
from photostyle.errors import InputError


def colour_mask(h: int, w: int, left: str, right: str) -> np.ndarray:
    m = np.zeros((h, w, 3), np.uint8)
    m[:, : w // 2] = PALETTE[left]
    m[:, w // 2 :] = PALETTE[right]
    return m


def test_colour_mask_with_antialiased_edge() -> None:
    m = colour_mask(4, 8, "blue", "green")
    m[:, 3] = (10, 12, 240)  # near blue
    m[:, 4] = (0, 127, 128)  # halfway: no palette colour within tolerance
    lm = parse_mask_array(m, tolerance=48)
    assert lm.kind == "color"
    assert lm.names == ["blue", "green"]
    assert (lm.ids[:, :4] == 0).all()
    assert (lm.ids[:, 4] == -1).all()
    assert (lm.ids[:, 5:] == 1).all()
    assert lm.off_palette == pytest.approx(2 / 8)


def test_grayscale_colour_mask_near_black_and_white(tmp_path: Path) -> None:
    g = np.full((6, 6), 250, np.uint8)
    g[:3] = 4
    g[2, 2] = 127  # grey
    Image.fromarray(g).save(tmp_path / "m.png")
    lm = read_mask(tmp_path / "m.png")
    assert lm.kind == "color"
    assert set(lm.names) == {"black", "white", "grey"}
    assert lm.names[lm.ids[0, 0]] == "black" and lm.names[lm.ids[5, 5]] == "white"


def test_label_maps_8_and_16_bit(tmp_path: Path) -> None:
    ids = np.zeros((5, 7), np.uint8)
    ids[:, 3:] = 2
    ids[4, :] = 17
    Image.fromarray(ids).save(tmp_path / "l8.png")
    lm = read_mask(tmp_path / "l8.png")
    assert lm.kind == "labels" and lm.names == ["id:0", "id:2", "id:17"]
    assert lm.names[lm.ids[0, 5]] == "id:2" and lm.names[lm.ids[4, 0]] == "id:17"
    big = ids.astype(np.uint16) * 1000
    Image.fromarray(big).save(tmp_path / "l16.png")
    lm16 = read_mask(tmp_path / "l16.png")
    assert lm16.kind == "labels" and lm16.names == ["id:0", "id:2000", "id:17000"]


def test_not_a_mask(tmp_path: Path) -> None:
    photo = (np.random.default_rng(0).random((20, 20, 3)) * 60 + 60).astype(np.uint8)
    with pytest.raises(InputError, match="no pixel is within"):
        parse_mask_array(photo, tolerance=10, source="photo.png")
    (tmp_path / "x.png").write_text("not an image")
    with pytest.raises(InputError, match="x.png: not an image"):
        read_mask(tmp_path / "x.png")


def test_align_orphans_and_tiny_labels() -> None:
    c = parse_mask_array(colour_mask(10, 10, "blue", "red"), source="c")
    c.ids[0, 0] = c.names.index("red")  # noise: red also covers 1 pixel on the left
    s_arr = colour_mask(10, 10, "blue", "green")
    s = parse_mask_array(s_arr, source="s")
    ms = align_labels(c, s, orphan_policy="whole-style", min_fraction=0.002)
    assert ms.labels == ["blue", "red"]
    assert ms.whole_style == {"red"} and ms.report["orphans"] == ["red"]
    style_m = ms.style_masks((10, 10))
    assert torch.all(style_m[1] == 1.0)  # red styled from the whole style image
    ms_drop = align_labels(c, s, orphan_policy="drop")
    assert ms_drop.labels == ["blue"] and "red" in ms_drop.report["dropped"]
    assert (ms_drop.content_ids[:, 5:] == -1).all()
    tiny = align_labels(c, s, min_fraction=0.3)  # blue covers 49%: kept; red orphan kept
    assert "blue" in tiny.labels


def test_tiny_label_dropped_with_report() -> None:
    c_arr = colour_mask(20, 20, "blue", "green")
    c_arr[0, 0] = PALETTE["yellow"]
    s_arr = colour_mask(20, 20, "blue", "green")
    s_arr[:, :3] = PALETTE["yellow"]
    ms = align_labels(parse_mask_array(c_arr), parse_mask_array(s_arr), min_fraction=0.01)
    assert "yellow" not in ms.labels and "yellow" in ms.report["dropped"]


def test_no_shared_label_and_kind_mismatch() -> None:
    c = parse_mask_array(colour_mask(6, 6, "blue", "blue"), source="c.png")
    s = parse_mask_array(colour_mask(6, 6, "green", "green"), source="s.png")
    with pytest.raises(InputError, match="share no usable label"):
        align_labels(c, s)
    labels = parse_mask_array(np.zeros((6, 6), np.uint8) + 3, source="l.png")
    with pytest.raises(InputError, match="different kinds"):
        align_labels(c, labels)


def test_fit_to_image_resizes_small_offsets_and_refuses_other_aspect() -> None:
    lm = parse_mask_array(colour_mask(393, 700, "blue", "green"), source="m")
    fitted = fit_to_image(lm, (394, 700), "content mask")
    assert fitted.shape == (394, 700)
    assert (fitted.ids[:, :350] == 0).all() and (fitted.ids[:, 350:] == 1).all()
    with pytest.raises(InputError, match="another image"):
        fit_to_image(lm, (700, 393), "style mask")


def test_soft_masks_land_on_the_right_pixels() -> None:
    ids = np.full((8, 8), -1, np.int32)
    ids[:, :4] = 0
    ids[4:, 4:] = 1
    m = soft_masks(ids, 2, (4, 4))
    assert m.shape == (2, 4, 4)
    torch.testing.assert_close(m[0, :, :2], torch.ones(4, 2))
    torch.testing.assert_close(m[0, :, 2:], torch.zeros(4, 2))
    torch.testing.assert_close(m[1, 2:, 2:], torch.ones(2, 2))
    assert float(m[1, :2].sum()) == 0.0
    border = soft_masks(np.repeat(np.array([[0, 0, 1, 1, 1]]), 2, 0), 2, (2, 2))
    # output pixel 0 averages input columns 0-2: two of label 0, one of label 1
    torch.testing.assert_close(border[0, :, 0], torch.full((2,), 2 / 3))
    torch.testing.assert_close(border.sum(0), torch.ones(2, 2))


def test_layer_mask_sizes_equal_feature_sizes() -> None:
    from photostyle.engine.network import VGGFeatures

    layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    feats = VGGFeatures(layers)(torch.rand(1, 3, 75, 101))
    masks = soft_masks(np.zeros((75, 101), np.int32), 1, (75, 101))
    per_layer = layer_masks(masks, feats)
    for name in layers:
        assert per_layer[name].shape[-2:] == feats[name].shape[-2:]
    assert per_layer["relu5_1"].shape[-2:] == (4, 6)


def test_single_label_set() -> None:
    ms = MaskSet.single((5, 6), (7, 8))
    assert ms.labels == ["all"]
    torch.testing.assert_close(ms.content_weights(), torch.ones(1))
    assert ms.style_masks((7, 8)).min() == 1.0


class PixelEncoder(torch.nn.Module):
    """1x1-convolution stand-in for VGG19: features are the pixel colours themselves."""

    layers = ("relu1_1", "relu2_1")
    source = "stand-in"

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = torch.cat([x, torch.ones_like(x[:, :1])], 1)  # colours and a constant
        return {name: f for name in self.layers}


def test_half_half_masks_route_style_colours(tmp_path: Path) -> None:
    from photostyle import transfer

    h, w = 24, 32
    content = np.full((h, w, 3), 0.5, np.float32)
    content += np.random.default_rng(0).normal(0, 0.02, content.shape).astype(np.float32)
    style = np.zeros((h, w, 3), np.float32)
    style[:, : w // 2] = (0.9, 0.1, 0.1)  # red left
    style[:, w // 2 :] = (0.1, 0.2, 0.9)  # blue right
    # content: top half label blue-region, bottom half label green-region
    c_mask = np.zeros((h, w, 3), np.uint8)
    c_mask[: h // 2] = PALETTE["blue"]
    c_mask[h // 2 :] = PALETTE["green"]
    s_mask = colour_mask(h, w, "green", "blue")  # style's blue label is its right (blue) half
    result = transfer(
        content, style, content_mask=c_mask, style_mask=s_mask, extractor=PixelEncoder(),
        content_layer="relu1_1", style_layers=("relu1_1",), content_weight=0.0,
        matting_weight=0.0, tv_weight=0.0, size=32, scales=1, iterations=60, smooth="none",
    )
    out = result.image
    top, bottom = out[: h // 2].reshape(-1, 3).mean(0), out[h // 2 :].reshape(-1, 3).mean(0)
    np.testing.assert_allclose(top, (0.1, 0.2, 0.9), atol=0.05)
    np.testing.assert_allclose(bottom, (0.9, 0.1, 0.1), atol=0.05)
