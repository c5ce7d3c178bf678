"""The VGG networks' layers by name (``conv3_2``, ``relu3_2``, ``pool3``): plain tables,
without torch, so that settings are checked (and ``--help`` answers) without loading it."""

from __future__ import annotations

from collections.abc import Iterable

from photostyle.errors import ConfigError

#: The backbones (``--network``).
NETWORKS = ("vgg19", "vgg16")


# torchvision's configuration "E": channels per conv, "M" for max pooling.
_VGG19_CFG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
    512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
)  # fmt: skip


# torchvision's configuration "D" (VGG16)
_VGG16_CFG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M",
)  # fmt: skip


CONFIGS = {"vgg19": _VGG19_CFG, "vgg16": _VGG16_CFG}


def _layer_table(network: str = "vgg19") -> tuple[dict[str, int], dict[int, tuple[int, int]]]:
    """Map names (``conv3_2``, ``relu3_2``, ``pool3``) to indices in ``features``.

    Also returns, for each conv index, its ``(in_channels, out_channels)``.
    """
    names: dict[str, int] = {}
    convs: dict[int, tuple[int, int]] = {}
    index, block, within, channels = 0, 1, 1, 3
    for item in CONFIGS[network]:
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


#: Per network: layer name -> index in ``features``, and conv index -> (in, out) channels.
LAYER_TABLES = {name: _layer_table(name) for name in CONFIGS}
LAYER_INDEX, CONV_SHAPES = LAYER_TABLES["vgg19"]


LAYER_NAMES = tuple(LAYER_INDEX)


def layer_index(network: str = "vgg19") -> dict[str, int]:
    """Layer name -> index in ``features`` for ``network``."""
    return LAYER_TABLES[network][0]


def check_layer_names(names: Iterable[str], setting: str, network: str = "vgg19") -> None:
    """Raise :class:`ConfigError` if a name is not a layer of ``network``."""
    last = "5_4" if network == "vgg19" else "5_3"
    for name in names:
        if name not in layer_index(network):
            raise ConfigError(
                f"{setting}: unknown {network.upper()} layer {name!r}; layers are conv1_1 ... "
                f"conv{last}, relu1_1 ... relu{last} and pool1 ... pool5"
            )
