"""The VGG19 extractor: names, taps against torchvision, trimming, weight files."""

from __future__ import annotations

import pickle
import time
import urllib.error
from pathlib import Path

import pytest
import torch

from photostyle.engine import network
from photostyle.engine.layers import LAYER_INDEX
from photostyle.engine.network import (
    CAFFE_MEAN_BGR,
    DEFAULT_WEIGHTS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    NAMED_WEIGHTS,
    ORIGINAL_URL,
    VGG19_URL,
    VGGFeatures,
    cached_weights_path,
    fold_caffe_input,
    load_default_weights,
    load_extractor,
    read_state_dict,
    unfold_caffe_input,
)
from photostyle.errors import ConfigError, WeightsError

from ..conftest import random_vgg_state


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
    """Layers beyond the embedded ones need the download: offline, one clear message."""
    start = time.perf_counter()
    with pytest.raises(WeightsError) as info:
        load_extractor(["relu4_2"], None)
    assert time.perf_counter() - start < 5
    message = str(info.value)
    assert str(cached_weights_path()) in message and "--vgg-weights" in message
    assert NAMED_WEIGHTS["original"].url in message
    with pytest.raises(WeightsError, match="vgg19-d01eb7cb.pth"):
        load_extractor(["relu1_1"], "original")
    with pytest.raises(WeightsError, match="vgg19-dcbb9e9d.pth"):
        load_extractor(["relu1_1"], "torchvision")


def test_download_failure_is_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PHOTOSTYLE_OFFLINE")

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(network, "unreachable", lambda url, timeout_s=5.0: None)
    with pytest.raises(WeightsError, match="download failed .*Name or service not known"):
        load_default_weights()


def test_without_network_the_message_comes_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """No network and no offline variable: one quick look at the host, then the message
    (a download library would retry for half a minute)."""
    monkeypatch.delenv("PHOTOSTYLE_OFFLINE")
    asked = []
    monkeypatch.setattr(network, "unreachable",
                        lambda url, timeout_s=5.0: asked.append(url) or "no route to host")
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url",
                        lambda *a, **k: pytest.fail("no download may be tried"))
    with pytest.raises(WeightsError, match=r"no network \(no route to host\)"):
        load_default_weights()
    assert asked == [network.named_weights().url]


def test_unreachable_tells_a_closed_port_from_an_open_one(monkeypatch) -> None:
    import socket

    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy",
                "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        assert network.unreachable(f"http://127.0.0.1:{port}/vgg19.pth") is None
    start = time.perf_counter()
    why = network.unreachable(f"http://127.0.0.1:{port}/vgg19.pth", timeout_s=2.0)
    assert why is not None and time.perf_counter() - start < 2.5
    # behind a proxy only a real request can tell
    monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{port}")
    assert network.unreachable("https://example.invalid/x") is None


def test_cached_weights_are_used(tmp_path: Path) -> None:
    path = cached_weights_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(random_vgg_state("relu2_1", seed=5), path)
    assert load_extractor(["relu2_1"], None).source == "embedded"  # no download needed
    model = load_extractor(["relu2_1"], "original")
    assert model.source == str(path)


def test_random_weights_are_seeded() -> None:
    a = load_extractor(["relu1_1"], "random", seed=3)
    b = load_extractor(["relu1_1"], "random", seed=3)
    torch.testing.assert_close(a.features[0].weight, b.features[0].weight)


def test_default_weights_are_the_embedded_original_ones() -> None:
    assert DEFAULT_WEIGHTS == "embedded"
    assert cached_weights_path().name == "vgg19-d01eb7cb.pth" == ORIGINAL_URL.rsplit("/", 1)[1]
    assert cached_weights_path("torchvision").name == "vgg19-dcbb9e9d.pth"


def _caffe_conv1(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random first-conv weights in the scale of the original ones (inputs 0-255)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(64, 3, 3, 3, generator=g) * 0.01, torch.randn(64, generator=g)


def test_fold_gives_the_caffe_convention_by_hand() -> None:
    """The folded conv on photostyle's input equals the original conv on Caffe's input
    (BGR, 0-255, mean subtracted), away from the one-pixel border."""
    weight, bias = _caffe_conv1()
    folded = fold_caffe_input({"features.0.weight": weight, "features.0.bias": bias})
    x = torch.rand(1, 3, 12, 14, generator=torch.Generator().manual_seed(1))  # RGB [0, 1]
    caffe = 255.0 * x[:, [2, 1, 0]] - torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1)
    ours = (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(
        IMAGENET_STD).view(1, 3, 1, 1)
    expected = torch.nn.functional.conv2d(caffe.double(), weight.double(), bias.double(),
                                          padding=1)
    got = torch.nn.functional.conv2d(ours.double(), folded["features.0.weight"].double(),
                                     folded["features.0.bias"].double(), padding=1)
    torch.testing.assert_close(got[..., 1:-1, 1:-1], expected[..., 1:-1, 1:-1], rtol=1e-5,
                               atol=1e-4)
    # one weight by hand: output 0, RGB input channel 0 (red) is Caffe's channel 2
    assert float(folded["features.0.weight"][0, 0, 1, 1]) == pytest.approx(
        255 * IMAGENET_STD[0] * float(weight[0, 2, 1, 1]), rel=1e-6)
    back = unfold_caffe_input(folded)
    torch.testing.assert_close(back["features.0.weight"], weight, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(back["features.0.bias"], bias, rtol=1e-5, atol=1e-5)


def _original_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict laid out like vgg19-d01eb7cb.pth: Caffe input, classifier keys + 1."""
    out = unfold_caffe_input(state)
    out["classifier.1.weight"] = torch.zeros(4, 2)
    out["classifier.1.bias"] = torch.zeros(4)
    return out


def test_original_layout_loads_from_the_cache_and_from_a_file(tmp_path: Path) -> None:
    state = random_vgg_state("relu2_1", seed=7)
    reference = VGGFeatures(["relu1_1", "relu2_1"], state)
    x = torch.rand(1, 3, 20, 24, generator=torch.Generator().manual_seed(2))
    expected = reference(x)
    path = cached_weights_path("original")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(_original_layout(state), path)
    for weights in ("original", path):  # the name, and a file
        got = load_extractor(["relu1_1", "relu2_1"], weights)(x)
        for name in expected:
            torch.testing.assert_close(got[name], expected[name], rtol=1e-4, atol=1e-5)
    # a torchvision-layout file is not converted
    plain = tmp_path / "plain.pth"
    torch.save(state, plain)
    torch.testing.assert_close(load_extractor(["relu1_1"], plain)(x)["relu1_1"],
                               expected["relu1_1"])


# --- VGG16 as an alternative backbone (issue 22); no real VGG16 weights exist here --------

def test_vgg16_layer_table_and_activations_match_torchvision() -> None:
    import torchvision

    from photostyle.engine.layers import layer_index

    table = layer_index("vgg16")
    torch.manual_seed(0)
    reference = torchvision.models.vgg16().features.eval()
    assert len(table) == len(reference)
    for name, index in table.items():
        kind = {"conv": torch.nn.Conv2d, "relu": torch.nn.ReLU, "pool": torch.nn.MaxPool2d}
        assert isinstance(reference[index], kind[name[:4]]), name
    assert table["relu4_2"] == 20 and table["relu5_3"] == 29 and table["pool5"] == 30
    assert "relu5_4" not in table and "conv3_4" not in table
    state = {f"features.{k}": v for k, v in reference.state_dict().items()}
    layers = ["relu1_1", "relu3_3", "relu4_2", "relu5_3"]
    ours = VGGFeatures(layers, state, network="vgg16")
    assert len(ours.features) == table["relu5_3"] + 1
    x = torch.rand(1, 3, 64, 48)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        full = reference[: table["relu5_3"] + 1]((x - mean) / std)
    torch.testing.assert_close(ours(x)["relu5_3"], full, rtol=1e-5, atol=1e-5)


def test_vgg16_weights_names_files_and_offline_message(tmp_path, monkeypatch) -> None:
    import torchvision

    from photostyle.engine.config import TransferConfig
    from photostyle.engine.network import named_weights
    from photostyle.errors import ConfigError

    assert torchvision.models.VGG16_Weights.IMAGENET1K_V1.url == named_weights(
        "torchvision", "vgg16").url
    assert cached_weights_path("original", "vgg16").name == "vgg16-00b39a1b.pth"
    assert cached_weights_path("torchvision", "vgg16").name == "vgg16-397923af.pth"
    with pytest.raises(WeightsError) as info:  # offline (conftest) with an empty cache
        load_extractor(["relu1_1"], None, network="vgg16")
    message = str(info.value)
    assert "VGG16" in message and "vgg16-00b39a1b.pth" in message
    # a VGG16 file in the original (Caffe) layout is recognised and converted, as for VGG19
    torch.manual_seed(1)
    reference = torchvision.models.vgg16()
    state = {f"features.{k}": v for k, v in reference.features.state_dict().items()}
    caffe = unfold_caffe_input(state)
    caffe["classifier.1.weight"] = torch.zeros(1)  # the original files' shifted keys
    path = tmp_path / "vgg16-original.pth"
    torch.save(caffe, path)
    x = torch.rand(1, 3, 32, 32)
    got = load_extractor(["relu2_1"], str(path), network="vgg16")(x)["relu2_1"]
    want = VGGFeatures(["relu2_1"], state, network="vgg16")(x)["relu2_1"]
    torch.testing.assert_close(got[..., 2:-2, 2:-2], want[..., 2:-2, 2:-2], rtol=1e-4,
                               atol=1e-4)  # borders: zero padding differs (see fold)
    # VGG19 weights given for VGG16 are refused by shape, naming the network
    vgg19 = tmp_path / "vgg19.pth"
    torch.save(random_vgg_state("relu5_1"), vgg19)
    with pytest.raises(WeightsError, match="VGG16"):
        load_extractor(["relu5_1"], str(vgg19), network="vgg16")
    # layer names are checked against the network
    with pytest.raises(ConfigError, match="VGG16 layer 'relu5_4'"):
        TransferConfig(network="vgg16", style_layers=("relu1_1", "relu5_4"))
    assert TransferConfig(network="vgg16").network == "vgg16"


def test_vgg16_transfer_through_the_command_line(tmp_path, image_pair) -> None:
    import json

    from photostyle.cli import main
    from photostyle.runs.outputs import report_path

    content, style = image_pair
    out = tmp_path / "o.png"
    assert main(["transfer", "-c", str(content), "-s", str(style), "-o", str(out),
                 "--network", "vgg16", "--vgg-weights", "random", "--content-layer",
                 "relu3_3", "--style-layers", "relu1_1,relu3_3", "--size", "32",
                 "--iterations", "2", "--segment", "none", "-q"]) == 0
    report = json.loads(report_path(out).read_text())
    assert report["config"]["network"] == "vgg16"


def test_devices_torch_does_not_see_are_named(monkeypatch) -> None:
    from photostyle.engine.network import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ConfigError, match="cuda:1 was requested but torch sees no CUDA"):
        resolve_device("cuda:1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(ConfigError, match="sees 2 CUDA device"):
        resolve_device("cuda:2")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="mps .Apple's GPU. was requested"):
        resolve_device("mps")
    with pytest.raises(ConfigError, match="device: must be"):
        resolve_device("gpu")
