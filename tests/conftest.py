"""Shared fixtures: tiny synthetic images, random-weight VGG19 files, ../shared paths."""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from PIL import Image

import photostyle  # noqa: F401  (applies the torchvision compatibility step)
from photostyle.engine.layers import LAYER_INDEX
from photostyle.engine.network import VGGFeatures

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PHOTOSTYLE_SHARED", REPO.parent / "shared"))
SHARED_WEIGHTS = SHARED / "weights" / "vgg19-conv1_1-conv3_4-imagenet.pth"
DPST = SHARED / "dpst"

requires_shared = pytest.mark.skipif(
    not SHARED_WEIGHTS.exists() or not DPST.exists(), reason="../shared is absent"
)


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test touches the network or the user's torch cache."""
    monkeypatch.setenv("PHOTOSTYLE_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch_home")))


def gradient_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth colourful float32 (h, w, 3) image in [0, 1] with some texture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([x / max(w - 1, 1), y / max(h - 1, 1), 0.5 + 0.3 * np.sin(x / 3 + y / 5)], 2)
    img += 0.05 * rng.standard_normal(img.shape).astype(np.float32)
    return np.clip(img, 0, 1).astype(np.float32)


def save_png(array: np.ndarray, path: Path) -> Path:
    if array.dtype != np.uint8:
        array = (np.clip(array, 0, 1) * 255 + 0.5).astype(np.uint8)
    Image.fromarray(array).save(path)
    return path


def random_vgg_state(last_layer: str = "relu5_1", seed: int = 0) -> dict[str, torch.Tensor]:
    """A torchvision-keyed random VGG19 state dict up to ``last_layer``."""
    torch.manual_seed(seed)
    model = VGGFeatures([last_layer])
    return {f"features.{k}": v.clone() for k, v in model.features.state_dict().items()}


@pytest.fixture(scope="session")
def vgg_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random weights for every layer up to relu5_1 (the paper's deepest)."""
    path = tmp_path_factory.mktemp("weights") / "vgg19-random.pth"
    torch.save(random_vgg_state("relu5_1"), path)
    return path


@pytest.fixture(scope="session")
def shallow_vgg_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random weights covering layers up to relu3_4 only (like ../shared's file)."""
    path = tmp_path_factory.mktemp("weights") / "vgg19-shallow.pth"
    state = random_vgg_state("relu3_4")
    assert max(int(k.split(".")[1]) for k in state) == LAYER_INDEX["conv3_4"]
    torch.save(state, path)
    return path


def make_pairs(root: Path) -> Path:
    """Two tiny content/style pairs with masks, laid out like ``../shared/dpst``."""
    for sub in ("input", "style", "seg_in", "seg_tar"):
        (root / sub).mkdir(parents=True)
    mask = np.zeros((32, 40, 3), np.uint8)
    mask[:16] = (0, 0, 255)
    mask[16:] = (0, 255, 0)
    for i in (1, 2):
        save_png(gradient_image(32, 40, i), root / "input" / f"in{i}.png")
        save_png(gradient_image(32, 40, 10 + i)[..., ::-1].copy(), root / "style" / f"tar{i}.png")
        save_png(mask, root / "seg_in" / f"in{i}.png")
        save_png(mask, root / "seg_tar" / f"tar{i}.png")
    return root


@pytest.fixture()
def image_pair(tmp_path: Path) -> tuple[Path, Path]:
    content = save_png(gradient_image(40, 56, 0), tmp_path / "content.png")
    style = save_png(gradient_image(48, 40, 1)[..., ::-1].copy(), tmp_path / "style.png")
    return content, style


def bomb_png(path: Path) -> None:
    """A tiny PNG whose header claims 100000 x 100000 pixels."""
    save_png(np.zeros((1, 1, 3), np.uint8), path)
    data = bytearray(path.read_bytes())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", 100_000, 100_000)
    crc = zlib.crc32(bytes(data[ihdr : ihdr + 17])) & 0xFFFFFFFF
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", crc)
    path.write_bytes(bytes(data))


#: A transfer on the command line as fast as it goes (for tests of files and messages).
CLI_FAST = ["--content-layer", "relu2_1", "--style-layers", "relu1_1,relu2_1", "--segment", "none",
        "--size", "32", "--iterations", "2", "-q"]


def one_error_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


def digests(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (links not followed) with a digest of its bytes."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_symlink() or not p.is_file():
            out[str(p.relative_to(folder))] = "-"
        else:
            out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def transfer_args(content: Path, style: Path, out: Path, weights: Path, *extra: str) -> list[str]:
    return ["transfer", "-c", str(content), "-s", str(style), "-o", str(out),
            "--vgg-weights", str(weights), *CLI_FAST, *extra]


def load_script(name: str) -> ModuleType:
    """``scripts/NAME.py`` imported as a module (scripts/ is not a package)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
