"""What a run records: settings, losses, timings, versions."""

from __future__ import annotations

import hashlib
import os
import platform
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: The libraries that shape a result, by distribution name(s) (the first installed counts).
LIBRARIES: dict[str, tuple[str, ...]] = {
    "torch": ("torch",),
    "torchvision": ("torchvision",),
    "numpy": ("numpy",),
    "scipy": ("scipy",),
    "pillow": ("pillow", "Pillow"),
    "opencv": ("opencv-python-headless", "opencv-python", "opencv-contrib-python-headless",
               "opencv-contrib-python"),
    "segmentation-models-pytorch": ("segmentation-models-pytorch",),
    "pillow-heif": ("pillow-heif",),
    "rawpy": ("rawpy",),
}


def _installed_version(names: tuple[str, ...]) -> str | None:
    from importlib import metadata

    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def versions() -> dict[str, str]:
    """Versions of Python, the platform and every library that shapes a result (read from
    the installed distributions: nothing is imported; one not installed is left out)."""
    from photostyle import __version__

    out = {"photostyle": __version__, "python": platform.python_version()}
    for key, names in LIBRARIES.items():
        version = _installed_version(names)
        if version is not None:
            out[key] = version
    import torch  # the build actually running (a local +cpu/+cu build's suffix included)

    out["torch"] = torch.__version__
    out["platform"] = platform.platform()
    return out


#: Files larger than this are recorded without a hash (reading them would cost seconds).
HASH_LIMIT_BYTES = 2 << 30


def file_record(source: Any) -> dict[str, Any] | None:
    """``{"path", "bytes", "sha256"}`` of an input given as a file (``None`` for pixels
    handed over in memory), so that a run can be repeated on the same bytes and a changed
    file be noticed."""
    if not isinstance(source, str | os.PathLike):
        return None
    path = Path(source)
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):  # a FIFO or a device is never read here
            return {"path": str(path), "bytes": None, "sha256": None}
        size = st.st_size
        digest = None
        if size <= HASH_LIMIT_BYTES:
            h = hashlib.sha256()
            with path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            digest = h.hexdigest()
    except OSError:
        return {"path": str(path), "bytes": None, "sha256": None}
    return {"path": str(path.resolve()), "bytes": size, "sha256": digest}


def input_files(**sources: Any) -> dict[str, dict[str, Any]]:
    """:func:`file_record` of each input given as a file, by role (``content``,
    ``style``, ``content_mask``, ``style_mask``)."""
    out = {}
    for role, source in sources.items():
        record = file_record(source)
        if record is not None:
            out[role] = record
    return out


class Timer:
    """Accumulates wall time per named stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._start = time.perf_counter()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: round(v, 4) for k, v in self.seconds.items()}
        out["total"] = round(time.perf_counter() - self._start, 4)
        return out
