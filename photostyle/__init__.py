"""photostyle: photorealistic style transfer in the manner of Deep Photo Style Transfer.

>>> import photostyle
>>> result = photostyle.transfer("city_day.jpg", "city_sunset.jpg", size=512)  # doctest: +SKIP
>>> result.save("city_styled.png")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from photostyle._compat import install_import_hook

__version__ = "0.2.0"

# Before anything imports torchvision (segmentation-models-pytorch, timm do), and only then:
# importing photostyle stays quick (no torch), so the command line answers Ctrl-C at once.
install_import_hook()

if TYPE_CHECKING:
    from photostyle.engine.config import TransferConfig, preset_config
    from photostyle.engine.masks import LabelMap, MaskSet
    from photostyle.engine.pipeline import TransferResult, apply_look, transfer
    from photostyle.engine.transforms import Look

__all__ = ["LabelMap", "Look", "MaskSet", "TransferConfig", "TransferResult", "__version__",
           "apply_look", "preset_config", "transfer"]

_LAZY = {
    "TransferConfig": "engine.config",
    "MaskSet": "engine.masks",
    "LabelMap": "engine.masks",
    "TransferResult": "engine.pipeline",
    "transfer": "engine.pipeline",
    "apply_look": "engine.pipeline",
    "preset_config": "engine.config",
    "Look": "engine.transforms",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'photostyle' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{module}", __name__), name)
