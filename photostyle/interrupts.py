"""Holding Ctrl-C and SIGTERM back while a result is being finished or written.

Once a transfer has a result, an interrupt must not throw it away: the stages that turn it
into a file (the quick fallback after an interrupted smoothing, writing the image and its
report) run inside :func:`deferred_interrupts`, which records SIGINT and SIGTERM instead of
acting on them. The caller looks at :attr:`Deferred.received` afterwards and reports the
interruption once the files are whole.

Signal handlers can only be installed from the main thread; elsewhere (a web app's worker
thread) the context manager does nothing and the thread is not interrupted by signals
anyway.
"""

from __future__ import annotations

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
            log.warning("interrupt received while finishing; it takes effect once the "
                        "result is written")

    previous = {s: signal.signal(s, hold) for s in _SIGNALS}
    try:
        yield state
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
