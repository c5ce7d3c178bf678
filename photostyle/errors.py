"""Exceptions that photostyle raises for problems a user can fix.

Every :class:`PhotostyleError` carries a one-line message naming the file or setting at
fault and what to do. The command-line interface prints it without a traceback and exits
with status 2.
"""

from __future__ import annotations


class PhotostyleError(Exception):
    """A problem with the user's input, files or settings (exit status 2)."""


class InputError(PhotostyleError):
    """An input file (image, mask, weights) is missing, unreadable or unsuitable."""


class ConfigError(PhotostyleError, ValueError):
    """A setting has an invalid value."""


class WeightsError(PhotostyleError):
    """Network weights are unavailable or do not fit the network."""


class OutputError(PhotostyleError):
    """An output file cannot be written where asked."""


def describe(exc: BaseException, memory_advice: str = "use a smaller --size"
             ) -> tuple[str, str]:
    """An error as ``(kind, one-line message)``, the same for every front-end.

    ``kind`` is ``"input"`` (a :class:`PhotostyleError`: the message says what to change),
    ``"memory"`` (with ``memory_advice``) or ``"internal"`` (a bug: the exception's type and
    the first line of its text, for the report).
    """
    if isinstance(exc, PhotostyleError):
        return "input", str(exc)
    if isinstance(exc, MemoryError):
        return "memory", f"out of memory; {memory_advice}"
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return "internal", f"internal error: {type(exc).__name__}: {first}"
