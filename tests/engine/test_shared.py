"""Real data from ../shared (the paper's pairs and partial VGG19 weights); skipped without it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from photostyle.engine.config import VERIFIED_CONTENT_LAYER, VERIFIED_STYLE_LAYERS
from photostyle.engine.masks import load_mask_pair, read_mask
from photostyle.engine.network import cached_weights_path, load_extractor, unfold_caffe_input
from photostyle.files.images import load_image

from ..conftest import DPST, SHARED_WEIGHTS, requires_shared

pytestmark = requires_shared

SHALLOW = {"content_layer": VERIFIED_CONTENT_LAYER, "style_layers": VERIFIED_STYLE_LAYERS}


def pair_ids() -> list[int]:
    return sorted(int(p.stem[2:]) for p in (DPST / "input").glob("in*.png"))


def test_every_paper_mask_parses_and_fits_its_photo() -> None:
    ids = pair_ids()
    assert len(ids) == 40
    for i in ids:
        content = load_image(DPST / "input" / f"in{i}.png")
        style = load_image(DPST / "style" / f"tar{i}.png")
        for path in (DPST / "seg_in" / f"in{i}.png", DPST / "seg_tar" / f"tar{i}.png"):
            labels = read_mask(path)
            assert labels.kind == "color", path
            assert (labels.ids < 0).mean() < 0.03, path  # anti-aliased edges only
        masks = load_mask_pair(DPST / "seg_in" / f"in{i}.png", DPST / "seg_tar" / f"tar{i}.png",
                               content.shape[:2], style.shape[:2])
        assert masks.labels and masks.content_ids.shape == content.shape[:2]


def test_shared_weights_load_for_layers_up_to_relu3_4() -> None:
    model = load_extractor(["relu3_4", *SHALLOW["style_layers"]], SHARED_WEIGHTS)
    feats = model(torch.rand(1, 3, 64, 64))
    assert feats["relu3_4"].shape == (1, 256, 16, 16)
    assert all(torch.isfinite(f).all() and f.abs().sum() > 0 for f in feats.values())


@pytest.mark.slow
def test_real_transfer_closes_most_of_the_colour_distance() -> None:
    from photostyle import transfer
    from photostyle.engine.metrics import evaluate_images

    i = 1
    content = load_image(DPST / "input" / f"in{i}.png")
    style = load_image(DPST / "style" / f"tar{i}.png")
    c_mask, s_mask = DPST / "seg_in" / f"in{i}.png", DPST / "seg_tar" / f"tar{i}.png"
    result = transfer(content, style, content_mask=c_mask, style_mask=s_mask,
                      vgg_weights=str(SHARED_WEIGHTS), size=256, iterations=(30, 20), **SHALLOW)
    masks = load_mask_pair(c_mask, s_mask, content.shape[:2], style.shape[:2])
    m = evaluate_images(content, style, result.image, masks)
    assert m["style_closed"] > 0.85
    assert m["structure_ssim"] > 0.5 and m["affine_residual"] < 1.0
    assert np.isfinite(result.image).all()


def test_original_weights_file_gives_the_shared_features(tmp_path) -> None:
    """A file laid out as vgg19-d01eb7cb.pth (Caffe input convention, classifier keys
    shifted), built from the shared weights by unfolding their preprocessing, loads as the
    default weights and gives the shared weights' features to float tolerance."""
    shared = dict(torch.load(SHARED_WEIGHTS, map_location="cpu", weights_only=True))
    original = unfold_caffe_input(shared)
    original["classifier.1.weight"] = torch.zeros(1, 1)
    path = cached_weights_path("original")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(original, path)
    layers = ["relu1_1", "relu2_1", "relu3_1", "relu3_2"]
    image = torch.from_numpy(load_image(DPST / "input" / "in1.png")[:200, :300].copy())
    x = image.permute(2, 0, 1)[None]
    expected = load_extractor(layers, SHARED_WEIGHTS)(x)
    got = load_extractor(layers, None)(x)  # the default: original weights from the cache
    for name in layers:
        scale = float(expected[name].abs().max())
        torch.testing.assert_close(got[name], expected[name], rtol=1e-4, atol=1e-5 * scale)
