"""The one time bound of a test (`Deadline`), and a socket whose every read gets only what is left of it.

Every step of a test or fetch gets only what is left of its deadline, and
reading an HTTP answer re-checks it before each receive, so a server that
drips one byte at a time still ends at the deadline.
"""

from __future__ import annotations

import io
import math
import time
from typing import Any

from ..errors import SlyTlsError

__all__ = ["MAX_TIMEOUT", "Deadline", "DeadlineSocket"]

#: The longest `test` or `fetch` may be given (an hour).
MAX_TIMEOUT = 3600.0


class Deadline:
    """The one total time bound of a test or fetch, across every step."""

    def __init__(self, seconds: float):
        self.seconds = self.check(seconds)
        self.end = time.monotonic() + self.seconds

    @staticmethod
    def check(seconds: object) -> float:
        """`seconds` as a float if it is a finite positive number; else `SlyTlsError`."""
        try:
            value = float(seconds)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise SlyTlsError(f"timeout must be a positive number of seconds, not {seconds!r}") from None
        if not math.isfinite(value) or value <= 0:
            raise SlyTlsError(f"timeout must be a positive, finite number of seconds, not {seconds!r}")
        if value > MAX_TIMEOUT:
            # socket and thread timeouts overflow past ~2**31 ms; nobody waits a day for one handshake.
            raise SlyTlsError(f"timeout must be at most {MAX_TIMEOUT:.0f} seconds, not {seconds!r}")
        return value

    def left(self) -> float:
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("time limit reached")
        return remaining


class _DeadlineReader(io.RawIOBase):
    """A socket reader whose every receive gets only what is left of the deadline."""

    def __init__(self, sock: Any, deadline: Deadline):
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._sock.settimeout(self._deadline.left())  # raises TimeoutError once it is over
        received: int = self._sock.recv_into(buffer)
        return received


class DeadlineSocket:
    """What http.client needs of a socket, with reads bounded by the deadline."""

    def __init__(self, sock: Any, deadline: Deadline):
        self._sock = sock
        self._deadline = deadline

    def sendall(self, data: bytes) -> None:
        self._sock.settimeout(self._deadline.left())
        self._sock.sendall(data)

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))

    def close(self) -> None:
        pass  # the probe owns the socket and closes it
