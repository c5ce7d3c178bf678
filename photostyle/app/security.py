"""The app's safety settings: where it may listen, its login, and Gradio's environment.

Kept apart from the page so that they are checked (and tested) without Gradio.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

from ..errors import ConfigError


def prepare_environment(root: Path) -> None:
    """Settings Gradio reads at import: uploads kept under ``root`` (deleted with the
    app), no usage statistics sent."""
    os.environ["GRADIO_TEMP_DIR"] = str(root / "uploads")
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine's loopback only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(info[4][0]).is_loopback
                       for info in socket.getaddrinfo(host, None))
        except (OSError, ValueError):
            return False


def parse_auth(text: str | None) -> tuple[str, str] | None:
    """``user:password`` as a pair (``None`` for none).

    Raises:
        ConfigError: no colon, or an empty user or password.
    """
    if text is None:
        return None
    user, sep, password = text.strip().partition(":")
    if not sep or not user or not password:
        raise ConfigError("--auth: expected USER:PASSWORD (both non-empty)")
    return user, password


def check_host(host: str, auth: tuple[str, str] | None) -> None:
    """Refuse to serve beyond this machine without authentication.

    Raises:
        ConfigError: ``host`` is not loopback and no ``auth`` is configured.
    """
    if not is_loopback(host) and auth is None:
        raise ConfigError(f"--host {host}: serving beyond this machine needs authentication; "
                          "give --auth USER:PASSWORD (or PHOTOSTYLE_APP_AUTH), or keep the "
                          "default 127.0.0.1")
