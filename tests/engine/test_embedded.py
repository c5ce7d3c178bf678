"""The VGG19 weights inside the package: the file, its hash, its features, its fallbacks."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from photostyle.engine.network import (
    EMBEDDED_EXACT,
    EMBEDDED_PATH,
    EMBEDDED_SHA256,
    load_embedded_weights,
    load_extractor,
    network_for,
)
from photostyle.errors import WeightsError

from ..conftest import SHARED_WEIGHTS, load_script

REPO = Path(__file__).resolve().parents[2]
#: Features of the embedded network on a fixed image (``_probe``), written down once from
#: the file: a changed file, a changed conversion or a changed layer table shows here.
#: (mean, std, share of zeros) of relu1_1, relu2_1, relu3_1, relu3_2, relu3_4.
PROBE = {
    "relu1_1": (34.5762, 61.8156, 0.4989),
    "relu2_1": (189.9635, 291.99, 0.4302),
    "relu3_1": (341.1705, 568.172, 0.4614),
    "relu3_2": (348.4592, 548.6595, 0.4883),
    "relu3_4": (1032.0513, 1622.7426, 0.4706),
}


def _probe() -> torch.Tensor:
    """A deterministic 1 x 3 x 64 x 96 image in [0, 1]: gradients, stripes and a disc."""
    y, x = torch.meshgrid(torch.linspace(0, 1, 64), torch.linspace(0, 1, 96), indexing="ij")
    disc = (((x - 0.6) ** 2 + (y - 0.4) ** 2) < 0.05).float()
    image = torch.stack([x, 0.5 + 0.5 * torch.sin(20 * x + 9 * y), 0.7 * y + 0.3 * disc])
    return image.clamp(0, 1)[None]


def test_file_hash_size_and_notice() -> None:
    data = EMBEDDED_PATH.read_bytes()
    assert hashlib.sha256(data).hexdigest() == EMBEDDED_SHA256
    assert len(data) < 10e6  # the wheel grows by less than 10 MB
    notice = (EMBEDDED_PATH.parent / "NOTICE.md").read_text()
    assert "CC BY 4.0" in notice and "Simonyan" in notice


def test_layers_and_storage() -> None:
    state = load_embedded_weights()
    assert sorted({int(k.split(".")[1]) for k in state}) == [0, 2, 5, 7, 10, 12, 14, 16]
    for key, tensor in state.items():
        index = int(key.split(".")[1])
        assert tensor.dtype == (torch.float32 if index <= EMBEDDED_EXACT else torch.float16)
        assert torch.isfinite(tensor).all()


def test_features_are_the_recorded_ones() -> None:
    net = load_extractor(list(PROBE), "embedded")
    with torch.no_grad():
        features = net(_probe())
    for name, (mean, std, zeros) in PROBE.items():
        f = features[name]
        got = (f.mean().item(), f.std().item(), (f == 0).float().mean().item())
        assert got == pytest.approx((mean, std, zeros), rel=2e-3, abs=2e-4), name


def test_default_network_is_embedded_and_needs_no_network() -> None:
    from photostyle.engine.config import TransferConfig

    net = network_for(TransferConfig())  # offline (conftest), empty torch cache
    assert net.source == "embedded"


@pytest.mark.skipif(not SHARED_WEIGHTS.exists(), reason="../shared is absent")
def test_equal_to_shared_file() -> None:
    """Bit for bit where the defaults reach (to relu3_2); float16 for conv3_3/3_4."""
    ours = load_extractor(["relu3_2", "relu3_4"], "embedded")
    shared = load_extractor(["relu3_2", "relu3_4"], str(SHARED_WEIGHTS))
    x = _probe()
    with torch.no_grad():
        a, b = ours(x), shared(x)
    assert torch.equal(a["relu3_2"], b["relu3_2"])
    error = (a["relu3_4"] - b["relu3_4"]).abs().max() / b["relu3_4"].abs().max()
    assert 0 < error < 1e-3


@pytest.mark.skipif(not SHARED_WEIGHTS.exists(), reason="../shared is absent")
def test_script_derives_the_packaged_file(tmp_path: Path) -> None:
    out = tmp_path / "w.pth"
    subprocess.run([sys.executable, str(REPO / "scripts" / "embed_vgg.py"),
                    str(SHARED_WEIGHTS), "--out", str(out)], check=True, capture_output=True)
    assert out.read_bytes() == EMBEDDED_PATH.read_bytes()


def test_script_folds_the_published_layout(tmp_path: Path) -> None:
    """From a file in vgg19-d01eb7cb.pth's layout (Caffe input, shifted classifier keys)
    the script writes the folded first convolution."""
    from photostyle.engine.network import fold_caffe_input, unfold_caffe_input

    module = load_script("embed_vgg")
    folded = load_embedded_weights()
    caffe = unfold_caffe_input({k: v.float() for k, v in folded.items()})
    caffe["classifier.1.weight"] = torch.zeros(2, 2)  # the original file's signature
    path = tmp_path / "vgg19-d01eb7cb.pth"
    torch.save(caffe, path)
    derived = module.derive(path)
    torch.testing.assert_close(derived["features.0.weight"], folded["features.0.weight"],
                               rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(derived["features.0.bias"],
                               fold_caffe_input(caffe)["features.0.bias"])
    assert "classifier.1.weight" not in derived


def test_damaged_file_fails_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import photostyle.engine.network as network

    broken = tmp_path / "w.pth"
    broken.write_bytes(EMBEDDED_PATH.read_bytes()[:-10])
    monkeypatch.setattr(network, "EMBEDDED_PATH", broken)
    with pytest.raises(WeightsError, match="damaged .*reinstall photostyle"):
        load_extractor(["relu1_1"], None)
    monkeypatch.setattr(network, "EMBEDDED_PATH", tmp_path / "missing.pth")
    with pytest.raises(WeightsError, match="cannot be read"):
        load_extractor(["relu1_1"], None)


def test_deeper_layers_say_what_they_need() -> None:
    with pytest.raises(WeightsError, match="cover layers up to relu3_4; relu4_2 needs full"):
        load_extractor(["relu1_1", "relu4_2"], "embedded")
    with pytest.raises(WeightsError, match="VGG19's; --network vgg16 needs"):
        load_extractor(["relu1_1"], "embedded", network="vgg16")
    assert load_extractor(["pool3"], None).source == "embedded"  # no weights after conv3_4
