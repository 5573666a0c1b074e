"""The one time bound of a test (`Deadline`), and a socket whose every read gets only what is left of it.

Every step of a test or fetch gets only what is left of its deadline, and
reading an HTTP answer re-checks it before each receive, so a server that
drips one byte at a time still ends at the deadline.
"""

from __future__ import annotations

import io
import time
from typing import Any

from .._bounded import MAX_TIMEOUT, checked_seconds

__all__ = ["MAX_TIMEOUT", "Deadline", "DeadlineSocket"]


class Deadline:
    """The one total time bound of a test or fetch, across every step."""

    def __init__(self, seconds: float):
        self.seconds = self.check(seconds)
        self.end = time.monotonic() + self.seconds

    @staticmethod
    def check(seconds: object) -> float:
        """`seconds` as a float if it is a usable timeout; else `SlyTlsError` (`_bounded.checked_seconds`)."""
        return checked_seconds(seconds)

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
