"""Make ``torchvision`` importable when its compiled ops do not match the installed torch.

The ``torchvision==0.28`` wheel on PyPI is built against CUDA torch. Installed next to a
CPU-only ``torch`` its ``_C`` extension cannot be loaded, and ``import torchvision`` then
fails in ``torchvision/_meta_registrations.py`` with ``operator torchvision::nms does not
exist``, because that module registers fake kernels for the ``nms`` and ``qnms`` operators
whether or not the extension loaded. ``segmentation_models_pytorch`` and ``timm`` import
torchvision, so they fail the same way.

:func:`ensure_torchvision_importable` runs before torchvision is first imported. It tries to
load torchvision's extension itself; if that works nothing else happens. If it fails, it
declares the two operator schemas that the import needs, with no kernels behind them, so the
import succeeds. Everything photostyle uses from torchvision (the VGG19 architecture, the
weight registry) is pure Python. Calling ``torchvision.ops.nms`` in that state raises
torch's "could not run ... with arguments from the 'CPU' backend" error instead of
breaking every import.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)

# Keeps the fallback operator library alive: a ``torch.library.Library`` removes its
# definitions when it is garbage-collected.
_FALLBACK_LIBRARY: Any = None
_CHECKED = False

_FALLBACK_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)


class _TorchvisionHook(importlib.abc.MetaPathFinder):
    """Runs :func:`ensure_torchvision_importable` when torchvision is first imported.

    It finds nothing itself: it only prepares torch and then lets the ordinary finders
    import torchvision. This keeps ``import photostyle`` free of the torch import.
    """

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname == "torchvision":
            remove_import_hook()
            ensure_torchvision_importable()
        return None


def install_import_hook() -> None:
    """Prepare torch for torchvision at torchvision's first import (or now, if it is
    already imported)."""
    if "torchvision" in sys.modules:
        ensure_torchvision_importable()
        return
    if not any(isinstance(f, _TorchvisionHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _TorchvisionHook())


def remove_import_hook() -> None:
    """Take the hook of :func:`install_import_hook` off ``sys.meta_path``."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _TorchvisionHook)]


def ensure_torchvision_importable() -> bool:
    """Prepare torch so that ``import torchvision`` succeeds.

    Returns:
        True if torchvision's compiled ops are usable (or torchvision is absent / already
        imported), False if the fallback schemas had to be declared.
    """
    global _FALLBACK_LIBRARY, _CHECKED
    if _CHECKED or "torchvision" in sys.modules:
        _CHECKED = True
        return _FALLBACK_LIBRARY is None
    _CHECKED = True
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return True  # not installed: the import error later names the package
    import torch

    package_dir = Path(spec.origin).parent
    candidates = sorted(package_dir.glob("_C*.so")) + sorted(package_dir.glob("_C*.pyd"))
    if candidates:
        try:
            torch.ops.load_library(str(candidates[0]))
            return True
        except (OSError, ImportError, RuntimeError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
    else:
        reason = "no compiled extension found"
    log.debug(
        "torchvision's compiled ops do not load against torch %s (%s); declaring "
        "placeholder schemas so that torchvision imports",
        torch.__version__,
        reason,
    )
    library = torch.library.Library("torchvision", "FRAGMENT")
    for schema in _FALLBACK_SCHEMAS:
        name = schema.split("(", 1)[0]
        try:
            library.define(schema)
        except RuntimeError:  # already defined by someone else: leave it
            log.debug("torchvision::%s already defined", name)
    _FALLBACK_LIBRARY = library
    return False
