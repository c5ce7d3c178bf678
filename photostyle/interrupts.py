"""Holding Ctrl-C and SIGTERM back while a result is being finished or written.

Once a transfer has a result, an interrupt must not throw it away: the stages that turn it
into a file (the quick fallback after an interrupted smoothing, writing the image and its
report) run inside :func:`deferred_interrupts`, which records SIGINT and SIGTERM instead of
acting on them. The caller looks at :attr:`Deferred.received` afterwards and reports the
interruption once the files are whole.

:func:`import_whole` does the same for the imports of large libraries, which an interrupt
must not cut in half.

Signal handlers can only be installed from the main thread; elsewhere (a web app's worker
thread) the context manager does nothing and the thread is not interrupted by signals
anyway.
"""

from __future__ import annotations

import importlib
import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

_SIGNALS = tuple(s for s in (signal.SIGINT, getattr(signal, "SIGTERM", None)) if s is not None)


@dataclass
class Deferred:
    """What arrived while interrupts were held back.

    Attributes:
        received: the number of the first signal that arrived, or ``None``.
    """

    received: int | None = None


@contextmanager
def deferred_interrupts() -> Iterator[Deferred]:
    """Record SIGINT and SIGTERM instead of raising, until the block ends.

    Yields:
        A :class:`Deferred` whose ``received`` says whether an interrupt arrived. Nothing is
        raised for it when the block ends: the caller decides.
    """
    state = Deferred()
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def hold(signum: int, frame: Any) -> None:
        if state.received is None:
            state.received = signum
            log.warning("interrupt received; it takes effect once the step under way is "
                        "done")

    previous = {s: signal.signal(s, hold) for s in _SIGNALS}
    try:
        yield state
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def import_whole(*modules: str) -> None:
    """Import ``modules`` with interrupts held back, then act on one that arrived.

    An interrupt that lands inside a large library's import (numpy, scipy, torch) can leave it
    half-initialised; some of their import code swallows it, and the program then fails
    later in unrelated ways. Imported whole, the interrupt is raised afterwards, as an
    ordinary :class:`KeyboardInterrupt`.

    Raises:
        KeyboardInterrupt: SIGINT or SIGTERM arrived during the imports.
    """
    with deferred_interrupts() as state:
        for name in modules:
            importlib.import_module(name)
    if state.received is not None:
        raise KeyboardInterrupt
