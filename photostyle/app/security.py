"""The app's safety settings: where it may listen, its login, and Gradio's environment.

Kept apart from the page so that they are checked (and tested) without Gradio.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from photostyle.errors import ConfigError

log = logging.getLogger(__name__)


#: The folder under the app's root that Gradio keeps its files in (uploads, and the files
#: it serves: downloads lie there too, so that Gradio serves them in place, without a
#: copy that would outlive the tab that made them).
UPLOADS = "uploads"


def prepare_environment(root: Path) -> None:
    """Settings Gradio reads at import: uploads kept under ``root`` (deleted with the
    app), no usage statistics sent."""
    os.environ["GRADIO_TEMP_DIR"] = str(root / UPLOADS)
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


#: Shortest password accepted for a server beyond loopback.
MIN_PASSWORD = 12
#: Failed logins within :data:`FAILURE_WINDOW` seconds that cost nothing; each one more
#: doubles the wait before the next attempt, from :data:`FIRST_DELAY` to :data:`MAX_DELAY`.
FREE_FAILURES = 3
FAILURE_WINDOW = 600.0
FIRST_DELAY = 1.0
MAX_DELAY = 16.0


def parse_auth(text: str | None) -> tuple[str, str] | None:
    """``user:password`` as a pair (``None`` for none).

    Raises:
        ConfigError: no colon, an empty user, or a weak password (:func:`check_password`).
    """
    if text is None:
        return None
    user, sep, password = text.strip().partition(":")
    if not sep or not user or not password:
        raise ConfigError("--auth: expected USER:PASSWORD (both non-empty)")
    check_password(user, password)
    return user, password


def check_password(user: str, password: str) -> None:
    """Refuse a password that guessing finds quickly: the login is all that stands
    between the network and the server's processors and files.

    Raises:
        ConfigError: shorter than :data:`MIN_PASSWORD` characters, the user name again,
            or made of fewer than five different characters.
    """
    if len(password) < MIN_PASSWORD:
        raise ConfigError(f"--auth: the password has {len(password)} characters; a server "
                          f"beyond this machine needs at least {MIN_PASSWORD} (a few words "
                          "are easiest to type)")
    if user.lower() in password.lower() or len(set(password)) < 5:
        raise ConfigError("--auth: the password is too easy to guess (it holds the user name, "
                          "or repeats a few characters)")


class Login:
    """The login check handed to Gradio: compares in constant time and slows guessing.

    Every attempt takes its turn (parallel guesses wait for each other); after
    :data:`FREE_FAILURES` failures within :data:`FAILURE_WINDOW` seconds each attempt
    first waits, twice as long for each further failure, up to :data:`MAX_DELAY` s (50
    wrong guesses in a row then take over ten minutes). A success clears the count. The
    wait slows the rightful user too while someone guesses; each failure is logged.

    Args:
        user, password: the one account.
        sleep, clock: for tests.
    """

    def __init__(self, user: str, password: str, *,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._user = user.encode()
        self._password = password.encode()
        self._sleep, self._clock = sleep, clock
        self._failures: list[float] = []
        self._lock = threading.Lock()

    def delay(self) -> float:
        """Seconds the next attempt waits."""
        now = self._clock()
        self._failures = [t for t in self._failures if now - t < FAILURE_WINDOW]
        extra = len(self._failures) - FREE_FAILURES
        return 0.0 if extra < 0 else min(MAX_DELAY, FIRST_DELAY * 2.0**extra)

    def __call__(self, username: str, password: str) -> bool:
        with self._lock:
            wait = self.delay()
            if wait:
                self._sleep(wait)
            ok = hmac.compare_digest(str(username).encode(), self._user) & hmac.compare_digest(
                str(password).encode(), self._password)
            if ok:
                self._failures.clear()
            else:
                self._failures.append(self._clock())
                log.warning("failed login (%d in the last %.0f minutes)", len(self._failures),
                            FAILURE_WINDOW / 60)
            return bool(ok)


def check_host(host: str, auth: tuple[str, str] | None) -> None:
    """Refuse to serve beyond this machine without authentication.

    Raises:
        ConfigError: ``host`` is not loopback and no ``auth`` is configured.
    """
    if not is_loopback(host) and auth is None:
        raise ConfigError(f"--host {host}: serving beyond this machine needs authentication; "
                          "give --auth USER:PASSWORD (or PHOTOSTYLE_APP_AUTH), or keep the "
                          "default 127.0.0.1")
