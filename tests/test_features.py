"""The VGG19 extractor: names, taps against torchvision, trimming, weight files."""

from __future__ import annotations

import pickle
import time
import urllib.error
from pathlib import Path

import pytest
import torch

from photostyle.errors import ConfigError, WeightsError
from photostyle.features import (
    LAYER_INDEX,
    VGG19_URL,
    VGGFeatures,
    cached_weights_path,
    load_default_weights,
    load_extractor,
    read_state_dict,
)

from .conftest import random_vgg_state


def test_layer_names_match_torchvision_indices() -> None:
    import torchvision

    reference = torchvision.models.vgg19().features
    assert len(LAYER_INDEX) == len(reference)
    for name, index in LAYER_INDEX.items():
        kind = {"conv": torch.nn.Conv2d, "relu": torch.nn.ReLU, "pool": torch.nn.MaxPool2d}
        assert isinstance(reference[index], kind[name[:4]]), name
    assert LAYER_INDEX["relu4_2"] == 22 and LAYER_INDEX["relu5_1"] == 29
    assert LAYER_INDEX["conv3_4"] == 16 and LAYER_INDEX["pool5"] == 36


def test_url_is_torchvisions() -> None:
    import torchvision

    assert torchvision.models.VGG19_Weights.IMAGENET1K_V1.url == VGG19_URL


def test_taps_equal_torchvision_activations() -> None:
    import torchvision

    torch.manual_seed(0)
    reference = torchvision.models.vgg19().features.eval()
    state = {f"features.{k}": v for k, v in reference.state_dict().items()}
    layers = ["conv1_1", "relu1_1", "relu2_1", "relu3_1", "relu4_2", "relu5_1"]
    ours = VGGFeatures(layers, state)
    x = torch.rand(1, 3, 64, 48)
    got = ours(x)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    h = (x - mean) / std
    expected = {}
    with torch.no_grad():
        for index, module in enumerate(reference):
            h = module(h.clone())
            for name in layers:
                if LAYER_INDEX[name] == index:
                    expected[name] = h.clone()
    for name in layers:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-5, atol=1e-5)


def test_trimmed_after_deepest_layer_and_frozen() -> None:
    model = VGGFeatures(["relu1_1", "relu3_2"])
    assert len(model.features) == LAYER_INDEX["relu3_2"] + 1
    assert all(not p.requires_grad for p in model.parameters())
    assert not model.training


def test_partial_state_dict_covering_layers_loads() -> None:
    state = random_vgg_state("relu3_4")
    model = VGGFeatures(["relu1_1", "relu3_2"], state)
    torch.testing.assert_close(model.features[0].weight, state["features.0.weight"])


def test_partial_state_dict_missing_layer_names_it() -> None:
    state = random_vgg_state("relu3_4")
    with pytest.raises(WeightsError, match=r"lacks conv4_1 .*covers layers up to conv3_4"):
        VGGFeatures(["relu4_2"], state, source="w.pth")


def test_wrong_shape_is_reported() -> None:
    state = random_vgg_state("relu1_2")
    state["features.2.weight"] = torch.zeros(3, 3)
    with pytest.raises(WeightsError, match=r"features\.2\.weight has shape"):
        VGGFeatures(["relu1_2"], state)


def test_unknown_layer_name() -> None:
    with pytest.raises(ConfigError, match="unknown VGG19 layer 'relu9_1'"):
        VGGFeatures(["relu9_1"])


def test_weight_files(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="file not found"):
        read_state_dict(tmp_path / "none.pth")
    text = tmp_path / "text.pth"
    text.write_text("hello")
    with pytest.raises(WeightsError, match="not a PyTorch weights file"):
        read_state_dict(text)
    tensor_file = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), tensor_file)
    with pytest.raises(WeightsError, match="not a state dict"):
        read_state_dict(tensor_file)


class _Evil:
    def __reduce__(self):  # executing this would create a file
        return (Path.touch, (Path("/tmp/photostyle-pwned"),))


def test_malicious_pickle_is_refused(tmp_path: Path) -> None:
    evil = tmp_path / "evil.pth"
    with evil.open("wb") as f:
        pickle.dump({"features.0.weight": _Evil()}, f)
    with pytest.raises(WeightsError, match="unsafe"):
        read_state_dict(evil)
    assert not Path("/tmp/photostyle-pwned").exists()


def test_offline_without_cache_fails_fast_and_clearly() -> None:
    start = time.perf_counter()
    with pytest.raises(WeightsError) as info:
        load_extractor(["relu1_1"], None)
    assert time.perf_counter() - start < 5
    message = str(info.value)
    assert str(cached_weights_path()) in message and "--vgg-weights" in message
    assert VGG19_URL in message


def test_download_failure_is_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PHOTOSTYLE_OFFLINE")

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    with pytest.raises(WeightsError, match="download failed .*Name or service not known"):
        load_default_weights()


def test_cached_weights_are_used(tmp_path: Path) -> None:
    path = cached_weights_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(random_vgg_state("relu2_1", seed=5), path)
    model = load_extractor(["relu2_1"], None)
    assert model.source == str(path)


def test_random_weights_are_seeded() -> None:
    a = load_extractor(["relu1_1"], "random", seed=3)
    b = load_extractor(["relu1_1"], "random", seed=3)
    torch.testing.assert_close(a.features[0].weight, b.features[0].weight)
