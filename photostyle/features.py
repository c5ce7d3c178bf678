"""VGG19 feature extractor: torchvision's architecture, layers addressed by name.

The network is ``torchvision.models.vgg19().features`` rebuilt layer for layer (the same
indices, so torchvision state dicts load unchanged), with non-inplace ReLUs so that both a
convolution and its ReLU can be tapped, trimmed after the deepest layer in use and frozen.
Inputs are RGB tensors ``(B, 3, H, W)`` in ``[0, 1]``; the ImageNet normalisation is applied
inside.

Weights come from (in this order): a file given by the user (``--vgg-weights``), the
torch hub cache (``$TORCH_HOME/hub/checkpoints/vgg19-dcbb9e9d.pth``), or a download of
torchvision's ImageNet weights into that cache. Every file is read with
``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from .errors import ConfigError, WeightsError

log = logging.getLogger(__name__)

#: torchvision's ``VGG19_Weights.IMAGENET1K_V1`` (checked against torchvision in the tests).
VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
VGG19_FILENAME = VGG19_URL.rsplit("/", 1)[1]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DOWNLOAD_TIMEOUT_S = 20.0

# torchvision's configuration "E": channels per conv, "M" for max pooling.
_VGG19_CFG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
    512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
)  # fmt: skip


def _layer_table() -> tuple[dict[str, int], dict[int, tuple[int, int]]]:
    """Map names (``conv3_2``, ``relu3_2``, ``pool3``) to indices in ``features``.

    Also returns, for each conv index, its ``(in_channels, out_channels)``.
    """
    names: dict[str, int] = {}
    convs: dict[int, tuple[int, int]] = {}
    index, block, within, channels = 0, 1, 1, 3
    for item in _VGG19_CFG:
        if item == "M":
            names[f"pool{block}"] = index
            index += 1
            block += 1
            within = 1
            continue
        assert isinstance(item, int)
        names[f"conv{block}_{within}"] = index
        names[f"relu{block}_{within}"] = index + 1
        convs[index] = (channels, item)
        channels = item
        index += 2
        within += 1
    return names, convs


LAYER_INDEX, CONV_SHAPES = _layer_table()
LAYER_NAMES = tuple(LAYER_INDEX)


def check_layer_names(names: Iterable[str], setting: str) -> None:
    """Raise :class:`ConfigError` if a name is not a VGG19 layer."""
    for name in names:
        if name not in LAYER_INDEX:
            raise ConfigError(
                f"{setting}: unknown VGG19 layer {name!r}; layers are conv1_1 ... conv5_4, "
                "relu1_1 ... relu5_4 and pool1 ... pool5"
            )


def build_vgg19_features(last_index: int) -> nn.Sequential:
    """torchvision's ``vgg19().features[: last_index + 1]`` with non-inplace ReLUs."""
    layers: list[nn.Module] = []
    channels = 3
    for item in _VGG19_CFG:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            assert isinstance(item, int)
            layers.append(nn.Conv2d(channels, item, kernel_size=3, padding=1))
            layers.append(nn.ReLU(inplace=False))
            channels = item
    return nn.Sequential(*layers[: last_index + 1])


class VGGFeatures(nn.Module):
    """Frozen, trimmed VGG19 that returns the activations of named layers.

    Args:
        layers: names of the layers to return (e.g. ``["relu1_1", "relu4_2"]``).
        state_dict: torchvision-keyed weights (``features.N.weight``); may cover only the
            layers up to the deepest one in use. ``None`` keeps the random initialisation.
        source: description of where the weights came from (for messages and reports).
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self,
        layers: Sequence[str],
        state_dict: Mapping[str, torch.Tensor] | None = None,
        source: str = "random",
    ) -> None:
        super().__init__()
        check_layer_names(layers, "layers")
        self.layers = tuple(dict.fromkeys(layers))
        self.source = source
        self._taps = {LAYER_INDEX[n]: n for n in self.layers}
        self.last_index = max(self._taps)
        self.features = build_vgg19_features(self.last_index)
        for module in self.features:
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        if state_dict is not None:
            self.features.load_state_dict(_select_features(state_dict, self.last_index, source))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Activations of the requested layers.

        Args:
            image: ``(B, 3, H, W)`` RGB in [0, 1].

        Returns:
            ``{name: (B, C_l, H_l, W_l)}`` for every requested layer.
        """
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"expected an image batch (B, 3, H, W), got {tuple(image.shape)}")
        x = (image - self.mean) / self.std
        out: dict[str, torch.Tensor] = {}
        for index, module in enumerate(self.features):
            x = module(x)
            name = self._taps.get(index)
            if name is not None:
                out[name] = x
        return out


def _select_features(
    state_dict: Mapping[str, torch.Tensor], last_index: int, source: str
) -> dict[str, torch.Tensor]:
    """Pick and check the conv weights up to ``last_index`` from a torchvision state dict."""
    if not isinstance(state_dict, Mapping):
        raise WeightsError(f"VGG19 weights {source}: not a state dict (a mapping of tensors)")
    if "state_dict" in state_dict and isinstance(state_dict["state_dict"], Mapping):
        state_dict = state_dict["state_dict"]
    has_prefix = any(str(k).startswith("features.") for k in state_dict)
    selected: dict[str, torch.Tensor] = {}
    covered = [i for i in CONV_SHAPES if f"{'features.' if has_prefix else ''}{i}.weight"
               in state_dict]
    for index, (cin, cout) in CONV_SHAPES.items():
        if index > last_index:
            break
        name = next(n for n, i in LAYER_INDEX.items() if i == index)
        for part, shape in (("weight", (cout, cin, 3, 3)), ("bias", (cout,))):
            key = f"features.{index}.{part}" if has_prefix else f"{index}.{part}"
            tensor = state_dict.get(key)
            if tensor is None:
                deepest = max(covered) if covered else None
                have = (
                    f"the file covers layers up to "
                    f"{next(n for n, i in LAYER_INDEX.items() if i == deepest)}"
                    if deepest is not None
                    else "the file has no VGG19 'features.N.weight' keys"
                )
                raise WeightsError(
                    f"VGG19 weights {source}: lacks {name} (features.{index}.{part}), "
                    f"needed by the layers in use; {have}. Choose shallower layers "
                    "(--content-layer/--style-layers) or use full VGG19 weights"
                )
            if not isinstance(tensor, torch.Tensor) or tuple(tensor.shape) != shape:
                got = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor)
                raise WeightsError(
                    f"VGG19 weights {source}: {key} has shape {got}, expected {shape}"
                )
            if not torch.isfinite(tensor).all():
                raise WeightsError(f"VGG19 weights {source}: {key} contains NaN or Inf")
            selected[f"{index}.{part}"] = tensor.float()
    return selected


#: File signatures of formats that people give as weights by mistake.
_NOT_WEIGHTS = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"BM", "a BMP image"),
    (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x89HDF", "an HDF5 file (Keras weights?)"),
)


def _sniff(head: bytes) -> str | None:
    """What a file that is not a PyTorch file looks like, from its first bytes."""
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "a WebP image"
    for magic, name in _NOT_WEIGHTS:
        if head.startswith(magic):
            return name
    if not head:
        return "an empty file"
    if head[:1] == b"{" or head[:1] == b"[":
        return "a JSON or text file"
    return None


def read_state_dict(path: str | os.PathLike) -> Mapping[str, torch.Tensor]:
    """Load a state dict safely (``weights_only=True``); clear errors for bad files.

    Raises:
        WeightsError: missing, not a regular file, not a PyTorch file (an image, an empty
            file...), a pickle carrying Python objects other than tensors (refused, never
            executed), or not a mapping.
    """
    from .paths import check_input_file

    p = check_input_file(path, "VGG19 weights", WeightsError)
    try:
        with p.open("rb") as handle:
            head = handle.read(16)
    except OSError as exc:
        raise WeightsError(f"VGG19 weights {p}: cannot read ({exc.strerror})") from None
    looks_like = _sniff(head)
    if looks_like is not None:
        raise WeightsError(f"VGG19 weights {p}: not a PyTorch weights file (it is "
                           f"{looks_like}); give a .pth state dict")
    try:
        data = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for bad or unsafe pickles
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        pickled = head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"
        if pickled and ("WeightsUnpickler error" in str(exc) or "Unsupported global" in str(exc)):
            raise WeightsError(
                f"VGG19 weights {p}: refused, the file contains Python objects other than "
                "tensors (unsafe to load); use a plain state dict"
            ) from None
        if not pickled:
            raise WeightsError(f"VGG19 weights {p}: not a PyTorch weights file (unknown "
                               "format); give a .pth state dict") from None
        raise WeightsError(f"VGG19 weights {p}: not a readable PyTorch file ({text})") from None
    if not isinstance(data, Mapping):
        raise WeightsError(f"VGG19 weights {p}: not a state dict (found {type(data).__name__})")
    return data


def cached_weights_path() -> Path:
    """Where torchvision's VGG19 ImageNet weights live in the torch hub cache."""
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILENAME


def offline_requested() -> bool:
    """True when the environment asks for no network (``PHOTOSTYLE_OFFLINE``,
    ``HF_HUB_OFFLINE`` or ``TORCH_HUB_OFFLINE`` set to a true value)."""
    for var in ("PHOTOSTYLE_OFFLINE", "HF_HUB_OFFLINE", "TORCH_HUB_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return True
    return False


def _missing_weights_message(reason: str) -> str:
    return (
        f"VGG19 ImageNet weights are not available: {reason}. Either download {VGG19_URL} "
        f"on a machine with internet and place it at {cached_weights_path()} (or set "
        "TORCH_HOME to a folder holding hub/checkpoints/" + VGG19_FILENAME + "), or pass "
        "--vgg-weights FILE with a torchvision-keyed VGG19 state dict (a partial one that "
        "covers the layers in use works)"
    )


def load_default_weights(timeout_s: float = DOWNLOAD_TIMEOUT_S) -> tuple[dict, str]:
    """torchvision's ImageNet VGG19 weights from the cache, downloading them if needed.

    Raises:
        WeightsError: offline, download failed, or the cached file is damaged; the message
            says which file to place where.
    """
    path = cached_weights_path()
    if path.exists():
        log.info("VGG19 weights from cache %s", path)
        return dict(read_state_dict(path)), str(path)
    if offline_requested():
        raise WeightsError(_missing_weights_message("offline mode is set and the cache is empty"))
    log.info("downloading VGG19 ImageNet weights (548 MB) into %s", path)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout_s)
    try:
        data = torch.hub.load_state_dict_from_url(
            VGG19_URL, map_location="cpu", progress=True, check_hash=True, weights_only=True
        )
    except Exception as exc:  # URLError, socket timeout, HTTP errors, hash mismatch
        with contextlib.suppress(OSError):
            partial = path.with_name(path.name + ".partial")
            if partial.exists():
                partial.unlink()
        reason = str(getattr(exc, "reason", exc)) or type(exc).__name__
        raise WeightsError(_missing_weights_message(f"download failed ({reason})")) from None
    finally:
        socket.setdefaulttimeout(previous)
    return dict(data), str(path)


def load_extractor(
    layers: Sequence[str],
    weights: str | os.PathLike | None = None,
    *,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> VGGFeatures:
    """Build the trimmed extractor for ``layers`` with the chosen weights.

    Args:
        layers: layer names in use.
        weights: a state-dict path, ``"random"``, or ``None`` for torchvision's ImageNet
            weights (cache or download).
        seed: seed of the random initialisation (used for ``"random"``).
        device: where the network lives.
    """
    if weights is not None and str(weights) == "random":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = VGGFeatures(layers, None, source="random")
        log.warning("using a VGG19 with random weights: results are not meaningful styles")
        return model.to(device)
    state: Mapping[str, torch.Tensor]
    if weights is None:
        state, source = load_default_weights()
    else:
        state, source = read_state_dict(weights), str(weights)
    return VGGFeatures(layers, state, source=source).to(device)
