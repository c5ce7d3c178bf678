"""VGG19 feature extractor: torchvision's architecture, layers addressed by name.

The network is ``torchvision.models.vgg19().features`` rebuilt layer for layer (the same
indices, so torchvision state dicts load unchanged), with non-inplace ReLUs so that both a
convolution and its ReLU can be tapped, trimmed after the deepest layer in use and frozen.
Inputs are RGB tensors ``(B, 3, H, W)`` in ``[0, 1]``; the ImageNet normalisation is applied
inside.

Weights, by default, come with the package (``embedded``): the original Caffe-trained
VGG19's first eight convolutions (conv1_1 ... conv3_4, Simonyan and Zisserman, CC BY 4.0, see
``weights/NOTICE.md``), those the default layers use stored exactly. Nothing is downloaded
for the default layers. Deeper layers need full weights: a file given by the user
(``--vgg-weights FILE``), or by name from the torch hub cache
(``$TORCH_HOME/hub/checkpoints/``), downloaded there on first use: the whole original VGG19
(``original``, ``vgg19-d01eb7cb.pth``, whose Caffe input convention is folded into the first
convolution, :func:`fold_caffe_input`) or torchvision's ImageNet weights (``torchvision``,
``vgg19-dcbb9e9d.pth``). Every file is read with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from photostyle.engine.layers import (
    CONFIGS,
    LAYER_TABLES,
    NETWORKS,
    check_layer_names,
    layer_index,
)
from photostyle.errors import ConfigError, WeightsError

log = logging.getLogger(__name__)

#: torchvision's ``VGG19_Weights.IMAGENET1K_V1`` (checked against torchvision in the tests).
VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
VGG19_FILENAME = VGG19_URL.rsplit("/", 1)[1]
#: The original VGG19 (Simonyan and Zisserman's Caffe-trained weights, CC BY 4.0) in PyTorch
#: form, as most style-transfer code uses it (Justin Johnson's conversion): torchvision's key
#: names (classifier keys shifted by one), input BGR in 0-255 with the ImageNet mean
#: subtracted. Its file name carries the first 8 hex digits of its SHA-256, which the
#: download checks.
ORIGINAL_URL = "https://web.eecs.umich.edu/~justincj/models/vgg19-d01eb7cb.pth"
#: Per-channel mean (B, G, R) of the original weights' input, in 0-255.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DOWNLOAD_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class NamedWeights:
    """Weights that photostyle can download by name (``--vgg-weights NAME``).

    Attributes:
        name: ``"original"`` or ``"torchvision"``.
        url: where they are downloaded from (into the torch hub cache).
        size: their download size, for messages.
        caffe_input: True when the first convolution expects Caffe's input (BGR, 0-255,
            mean subtracted); it is then folded into the network's own input convention.
    """

    name: str
    url: str
    size: str
    caffe_input: bool

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[1]


NAMED_WEIGHTS = {
    "original": NamedWeights("original", ORIGINAL_URL, "548 MB", caffe_input=True),
    "torchvision": NamedWeights("torchvision", VGG19_URL, "548 MB", caffe_input=False),
}
#: The same two sets for VGG16 (``network="vgg16"``): Johnson's conversion of the original
#: Caffe weights, and torchvision's ``VGG16_Weights.IMAGENET1K_V1``. Never run here (no
#: VGG16 weights can be had on this machine): the mechanics are tested with random weights.
VGG16_NAMED_WEIGHTS = {
    "original": NamedWeights(
        "original", "https://web.eecs.umich.edu/~justincj/models/vgg16-00b39a1b.pth",
        "528 MB", caffe_input=True),
    "torchvision": NamedWeights(
        "torchvision", "https://download.pytorch.org/models/vgg16-397923af.pth", "528 MB",
        caffe_input=False),
}


def named_weights(name: str | None = None, network: str = "vgg19") -> NamedWeights:
    """The downloadable weights ``name`` (default :data:`DOWNLOAD_WEIGHTS`) of ``network``."""
    table = VGG16_NAMED_WEIGHTS if network == "vgg16" else NAMED_WEIGHTS
    return table[name or DOWNLOAD_WEIGHTS]


#: The weights that come with photostyle: the original VGG19's conv1_1 ... conv3_4 (the
#: same numbers as ``../shared``'s file), derived by ``scripts/embed_vgg.py``.
EMBEDDED = "embedded"
EMBEDDED_PATH = Path(__file__).resolve().parent / "weights" / "vgg19-original-conv1_1-conv3_4.pth"
#: Its SHA-256 (checked at every load: a damaged installation fails clearly).
EMBEDDED_SHA256 = "7bef239202f46018af114be1bf4ac6021c43efd20b9a95abd3405004c0b94f7e"
#: The deepest ``features`` index stored exactly (float32): conv3_2, the default content
#: layer's; the two convolutions after it (to :data:`EMBEDDED_LAST`) are stored as float16.
EMBEDDED_EXACT = 12
EMBEDDED_LAST = 16
#: What ``vgg_weights=None`` means: the embedded weights, the ones every figure in
#: docs/RESULTS.md was measured with; layers deeper than relu3_4 fall back to
#: :data:`DOWNLOAD_WEIGHTS`.
DEFAULT_WEIGHTS = EMBEDDED
#: The full weights downloaded by default for deeper layers (``original``).
DOWNLOAD_WEIGHTS = "original"
#: Every name ``vgg_weights`` takes besides a file.
WEIGHT_NAMES = (EMBEDDED, *NAMED_WEIGHTS, "random")


def weights_file(weights: str | os.PathLike | None) -> str | os.PathLike | None:
    """The file a ``vgg_weights`` setting names, or ``None`` for a name (``embedded``,
    ``original``, ``torchvision``, ``random``) or the default."""
    if weights is None or str(weights) in WEIGHT_NAMES:
        return None
    return weights


def load_embedded_weights() -> dict[str, torch.Tensor]:
    """The embedded state dict (float32 and float16 tensors, torchvision keys, photostyle's
    input convention), its hash checked.

    Raises:
        WeightsError: the file is missing or damaged (the installation is broken).
    """
    path = EMBEDDED_PATH
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise WeightsError(f"the embedded VGG19 weights {path} cannot be read "
                           f"({exc.strerror}); reinstall photostyle") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != EMBEDDED_SHA256:
        raise WeightsError(f"the embedded VGG19 weights {path} are damaged (sha256 "
                           f"{digest[:12]}..., expected {EMBEDDED_SHA256[:12]}...); "
                           "reinstall photostyle")
    return dict(read_state_dict(path))


def embedded_covers(last_index: int, network: str = "vgg19") -> bool:
    """True when the embedded weights hold every convolution up to ``features[last_index]``."""
    convs = LAYER_TABLES[network][1]
    return network == "vgg19" and all(i <= EMBEDDED_LAST for i in convs if i <= last_index)


def build_vgg19_features(last_index: int, network: str = "vgg19") -> nn.Sequential:
    """torchvision's ``vgg19().features[: last_index + 1]`` (or ``vgg16()``'s) with
    non-inplace ReLUs."""
    layers: list[nn.Module] = []
    channels = 3
    for item in CONFIGS[network]:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            assert isinstance(item, int)
            layers.append(nn.Conv2d(channels, item, kernel_size=3, padding=1))
            layers.append(nn.ReLU(inplace=False))
            channels = item
    return nn.Sequential(*layers[: last_index + 1])


class VGGFeatures(nn.Module):
    """Frozen, trimmed VGG19 (or VGG16) that returns the activations of named layers.

    Args:
        layers: names of the layers to return (e.g. ``["relu1_1", "relu4_2"]``).
        state_dict: torchvision-keyed weights (``features.N.weight``); may cover only the
            layers up to the deepest one in use. ``None`` keeps the random initialisation.
        source: description of where the weights came from (for messages and reports).
        network: ``"vgg19"`` or ``"vgg16"`` (torchvision's configurations E and D).
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self,
        layers: Sequence[str],
        state_dict: Mapping[str, torch.Tensor] | None = None,
        source: str = "random",
        network: str = "vgg19",
    ) -> None:
        super().__init__()
        check_layer_names(layers, "layers", network)
        self.network = network
        self.layers = tuple(dict.fromkeys(layers))
        self.source = source
        self._taps = {layer_index(network)[n]: n for n in self.layers}
        self.last_index = max(self._taps)
        self.features = build_vgg19_features(self.last_index, network)
        for module in self.features:
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        if state_dict is not None:
            self.features.load_state_dict(
                _select_features(state_dict, self.last_index, source, network))
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
    state_dict: Mapping[str, torch.Tensor], last_index: int, source: str,
    network: str = "vgg19",
) -> dict[str, torch.Tensor]:
    """Pick and check the conv weights up to ``last_index`` from a torchvision state dict."""
    names_index, conv_shapes = LAYER_TABLES[network]
    what = network.upper()
    if not isinstance(state_dict, Mapping):
        raise WeightsError(f"{what} weights {source}: not a state dict (a mapping of tensors)")
    if "state_dict" in state_dict and isinstance(state_dict["state_dict"], Mapping):
        state_dict = state_dict["state_dict"]
    has_prefix = any(str(k).startswith("features.") for k in state_dict)
    selected: dict[str, torch.Tensor] = {}
    covered = [i for i in conv_shapes if f"{'features.' if has_prefix else ''}{i}.weight"
               in state_dict]
    for index, (cin, cout) in conv_shapes.items():
        if index > last_index:
            break
        name = next(n for n, i in names_index.items() if i == index)
        for part, shape in (("weight", (cout, cin, 3, 3)), ("bias", (cout,))):
            key = f"features.{index}.{part}" if has_prefix else f"{index}.{part}"
            tensor = state_dict.get(key)
            if tensor is None:
                deepest = max(covered) if covered else None
                have = (
                    f"the file covers layers up to "
                    f"{next(n for n, i in names_index.items() if i == deepest)}"
                    if deepest is not None
                    else f"the file has no {what} 'features.N.weight' keys"
                )
                raise WeightsError(
                    f"{what} weights {source}: lacks {name} (features.{index}.{part}), "
                    f"needed by the layers in use; {have}. Choose shallower layers "
                    f"(--content-layer/--style-layers) or use full {what} weights"
                )
            if not isinstance(tensor, torch.Tensor) or tuple(tensor.shape) != shape:
                got = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor)
                raise WeightsError(
                    f"{what} weights {source}: {key} has shape {got}, expected {shape}"
                    + (" (VGG19 weights for --network vgg16, or the other way round?)"
                       if index > 16 else "")
                )
            if not torch.isfinite(tensor).all():
                raise WeightsError(f"{what} weights {source}: {key} contains NaN or Inf")
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
    from photostyle.files.paths import check_input_file

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


def cached_weights_path(name: str | None = None, network: str = "vgg19") -> Path:
    """Where named weights (default: :data:`DEFAULT_WEIGHTS`) live in the torch hub cache."""
    return Path(torch.hub.get_dir()) / "checkpoints" / named_weights(name, network).filename


def fold_caffe_input(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Re-express original (Caffe-convention) VGG weights for photostyle's input.

    The original first convolution takes ``c_k = 255 x_(2-k) - mu_k`` (BGR, 0-255, the
    mean :data:`CAFFE_MEAN_BGR` subtracted), where ``x`` is RGB in [0, 1]. photostyle feeds
    ``z_j = (x_j - m_j) / s_j`` (ImageNet mean and std). Substituting
    ``x_j = s_j z_j + m_j``: ``W'[:, j] = 255 s_j W[:, 2-j]`` and
    ``b' = b + sum_k (255 m_(2-k) - mu_k) sum_(spatial) W[:, k]``. The weights are exact;
    the bias is exact away from the image border, where the zero padding of the two
    conventions differs (as in ``../shared``'s folded file).

    Args:
        state: a torchvision-keyed state dict with ``features.0.weight`` ``(64, 3, 3, 3)``
            and ``features.0.bias`` ``(64,)`` in the Caffe convention.

    Returns:
        A copy with those two tensors folded; every other tensor unchanged.
    """
    prefix, scale, offset = _caffe_fold_terms(state)
    weight, bias = state[f"{prefix}0.weight"].double(), state[f"{prefix}0.bias"].double()
    out = dict(state)
    out[f"{prefix}0.weight"] = (weight.flip(1) * scale).float()  # RGB j is Caffe's 2 - j
    out[f"{prefix}0.bias"] = (bias + (weight * offset).sum(dim=(1, 2, 3))).float()
    return out


def unfold_caffe_input(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse of :func:`fold_caffe_input` (for tests and for writing such files)."""
    prefix, scale, offset = _caffe_fold_terms(state)
    weight = (state[f"{prefix}0.weight"].double() / scale).flip(1)
    bias = state[f"{prefix}0.bias"].double() - (weight * offset).sum(dim=(1, 2, 3))
    out = dict(state)
    out[f"{prefix}0.weight"] = weight.float()
    out[f"{prefix}0.bias"] = bias.float()
    return out


def _caffe_fold_terms(state: Mapping[str, torch.Tensor]) -> tuple[str, torch.Tensor,
                                                                   torch.Tensor]:
    """The key prefix of ``state``, the per-input-channel weight scale ``255 s_j`` (RGB
    order) and the bias offset ``255 m_(2-k) - mu_k`` (Caffe's BGR order), ``(1, 3, 1, 1)``
    float64 each."""
    prefix = "features." if "features.0.weight" in state else ""
    std = torch.tensor(IMAGENET_STD, dtype=torch.float64)
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float64)
    caffe_mean = torch.tensor(CAFFE_MEAN_BGR, dtype=torch.float64)
    scale = (255.0 * std).view(1, 3, 1, 1)
    offset = (255.0 * mean.flip(0) - caffe_mean).view(1, 3, 1, 1)
    return prefix, scale, offset


def has_caffe_signature(state: Mapping[str, object]) -> bool:
    """True for the original VGG19 file's layout: its classifier keys are shifted by one
    (``classifier.1.weight`` where torchvision has ``classifier.0.weight``)."""
    return "classifier.1.weight" in state and "classifier.0.weight" not in state


def offline_requested() -> bool:
    """True when the environment asks for no network (``PHOTOSTYLE_OFFLINE``,
    ``HF_HUB_OFFLINE`` or ``TORCH_HUB_OFFLINE`` set to a true value)."""
    for var in ("PHOTOSTYLE_OFFLINE", "HF_HUB_OFFLINE", "TORCH_HUB_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return True
    return False


def unreachable(url: str, timeout_s: float = 5.0) -> str | None:
    """Why ``url``'s host cannot be reached now (``None``: a connection opened, or a proxy is
    configured, which only a real request can test).

    A machine without network answers in a moment (no name resolution, no route), where a
    download library would retry for half a minute before giving up.
    """
    from urllib.parse import urlparse
    from urllib.request import getproxies

    parsed = urlparse(url)
    if not parsed.hostname or any(kind != "no" for kind in getproxies()):
        return None
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout_s):
            return None
    except OSError as exc:
        return str(exc) or type(exc).__name__


def _missing_weights_message(reason: str, name: str | None = None,
                             network: str = "vgg19") -> str:
    named = named_weights(name, network)
    path = cached_weights_path(named.name, network)
    what = network.upper()
    return (
        f"{what} {named.name} weights are not available: {reason}. Either download "
        f"{named.url} on a machine with internet and place it at {path} (or set "
        f"TORCH_HOME to a folder holding hub/checkpoints/{named.filename}), or pass "
        f"--vgg-weights FILE with a torchvision-keyed {what} state dict (a partial one that "
        "covers the layers in use works)"
    )


def load_default_weights(
    timeout_s: float = DOWNLOAD_TIMEOUT_S, name: str | None = None, network: str = "vgg19"
) -> tuple[dict, str]:
    """Named VGG19 weights (default :data:`DEFAULT_WEIGHTS`) from the torch hub cache,
    downloaded there (hash checked) if needed; original weights come back folded to
    photostyle's input convention (:func:`fold_caffe_input`).

    Raises:
        WeightsError: offline, download failed, or the cached file is damaged; the message
            says which file to place where.
    """
    named = named_weights(name, network)
    path = cached_weights_path(named.name, network)
    if path.exists():
        log.info("%s %s weights from cache %s", network.upper(), named.name, path)
        data = dict(read_state_dict(path))
    else:
        if offline_requested():
            raise WeightsError(_missing_weights_message(
                "offline mode is set and the cache is empty", named.name, network))
        why = unreachable(named.url)
        if why is not None:
            raise WeightsError(_missing_weights_message(
                f"no network ({why}) and the cache is empty", named.name, network))
        log.info("downloading %s %s weights (%s) into %s", network.upper(), named.name,
                 named.size, path)
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(timeout_s)
        try:
            data = dict(torch.hub.load_state_dict_from_url(
                named.url, map_location="cpu", progress=True, check_hash=True,
                weights_only=True))
        except Exception as exc:  # URLError, socket timeout, HTTP errors, hash mismatch
            with contextlib.suppress(OSError):
                partial = path.with_name(path.name + ".partial")
                if partial.exists():
                    partial.unlink()
            reason = str(getattr(exc, "reason", exc)) or type(exc).__name__
            raise WeightsError(_missing_weights_message(f"download failed ({reason})",
                                                        named.name, network)) from None
        finally:
            socket.setdefaulttimeout(previous)
    if named.caffe_input:
        data = _folded(data, str(path))
    return data, str(path)


def _folded(state: Mapping[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """:func:`fold_caffe_input`, with a clear error for a file without a first conv."""
    prefix = "features." if "features.0.weight" in state else ""
    for part, shape in (("weight", (64, 3, 3, 3)), ("bias", (64,))):
        tensor = state.get(f"{prefix}0.{part}")
        if not isinstance(tensor, torch.Tensor) or tuple(tensor.shape) != shape:
            raise WeightsError(f"VGG19 weights {source}: no usable features.0.{part} "
                               f"{shape} to convert from the original (Caffe) input")
    return fold_caffe_input(state)


def load_extractor(
    layers: Sequence[str],
    weights: str | os.PathLike | None = None,
    *,
    seed: int = 0,
    device: torch.device | str = "cpu",
    network: str = "vgg19",
) -> VGGFeatures:
    """Build the trimmed extractor for ``layers`` with the chosen weights.

    Args:
        layers: layer names in use.
        weights: a state-dict path, ``"embedded"`` (the package's own, to relu3_4), a
            name of :data:`NAMED_WEIGHTS` (``"original"``, ``"torchvision"``: cache or
            download), ``"random"``, or ``None``: the embedded weights when they cover
            ``layers``, else :data:`DOWNLOAD_WEIGHTS`. A file in the original weights'
            layout (recognised by its shifted classifier keys) has its Caffe input
            convention folded in.
        seed: seed of the random initialisation (used for ``"random"``).
        device: where the network lives.
        network: ``"vgg19"`` (default) or ``"vgg16"``: the named weights are that
            network's, and a file must be one.
    """
    if network not in NETWORKS:
        raise ConfigError(f"network: must be one of {', '.join(NETWORKS)}; got {network!r}")
    if weights is not None and str(weights) == "random":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = VGGFeatures(layers, None, source="random", network=network)
        log.warning("using a %s with random weights: results are not meaningful styles",
                    network.upper())
        return model.to(device)
    state: Mapping[str, torch.Tensor]
    check_layer_names(layers, "layers", network)
    last = max(layer_index(network)[n] for n in layers)
    if weights is None and embedded_covers(last, network):
        weights = EMBEDDED
    if weights is not None and str(weights) == EMBEDDED:
        if not embedded_covers(last, network):
            deepest = max(layers, key=lambda n: layer_index(network)[n])
            raise WeightsError(
                f"the embedded VGG19 weights cover layers up to relu3_4; {deepest} needs "
                "full weights: --vgg-weights original (downloaded once, 548 MB) or a file"
                if network == "vgg19" else
                "the embedded weights are VGG19's; --network vgg16 needs --vgg-weights "
                "original, torchvision or a VGG16 file")
        state, source = load_embedded_weights(), EMBEDDED
    elif weights is None or str(weights) in NAMED_WEIGHTS:
        name = None if weights is None else str(weights)
        if weights is None:
            log.info("layers beyond relu3_4: the full %s %s weights are needed",
                     network.upper(), DOWNLOAD_WEIGHTS)
        state, source = load_default_weights(name=name, network=network)
    else:
        state, source = read_state_dict(weights), str(weights)
        if has_caffe_signature(state):
            log.info("VGG19 weights %s: the original (Caffe) layout; converting its input "
                     "convention", source)
            state = _folded(state, source)
    return VGGFeatures(layers, state, source=source, network=network).to(device)


def resolve_device(name: str) -> torch.device:
    """The torch device of a device name (:data:`~photostyle.engine.config.DEVICES`):
    ``"auto"`` picks CUDA when available, else the CPU (never MPS, which the developers could
    not verify).

    Raises:
        ConfigError: an unknown name, or a GPU that torch does not see (named).
    """
    from photostyle.engine.config import check_device

    check_device(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device: {name} was requested but torch sees no CUDA device "
                              f"(torch {torch.__version__}; a CPU-only build sees none)")
        index = int(name.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ConfigError(f"device: {name} was requested but torch sees "
                              f"{torch.cuda.device_count()} CUDA device(s), cuda:0 to "
                              f"cuda:{torch.cuda.device_count() - 1}")
    if name == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ConfigError("device: mps (Apple's GPU) was requested but torch sees none "
                              "(it needs a Mac with Apple silicon and torch's macOS build)")
    return torch.device(name)


def network_for(config: Any, layers: Sequence[str] | None = None,
                device: torch.device | None = None) -> VGGFeatures:
    """The network a :class:`~photostyle.engine.config.TransferConfig` asks for: its
    weights, backbone, seed and device, trimmed after the deepest of ``layers`` (default:
    the layers its losses use). The one place photostyle makes a network: a transfer, the
    executors' workers, video keyframes and ``evaluate`` all come here.

    Raises:
        WeightsError: the weights cannot be had (offline, a bad file, missing layers).
        ConfigError: CUDA asked for but absent.
    """
    return load_extractor(list(layers or config.layers_in_use()), config.vgg_weights,
                          seed=config.seed, network=config.network,
                          device=device if device is not None else resolve_device(config.device))
