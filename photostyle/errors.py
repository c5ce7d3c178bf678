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


class NumericalError(PhotostyleError):
    """The optimisation diverged (NaN or Inf), usually from extreme weights or rates."""
