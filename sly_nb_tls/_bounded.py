"""One network attempt under a total deadline: at the deadline its sockets are shut down, so it ends then."""

from __future__ import annotations

import math
import socket
import threading
from collections.abc import Callable, Iterable
from typing import TypeVar

from ._objects import instances_of

__all__ = [
    "MAX_BODY",
    "MAX_TIMEOUT",
    "capped",
    "checked_seconds",
    "run_bounded",
    "wait_for",
]

#: The longest timeout a test or fetch takes: socket and thread timeouts overflow past ~2**31 ms,
#: and nobody waits an hour for one handshake.
MAX_TIMEOUT = 3600.0
#: Never keep more than this of a server's answer: a users.me reply or a certificate is far smaller.
MAX_BODY = 1024 * 1024
#: How long a stopped attempt gets to notice its shut-down sockets and return.
_GRACE = 2.0

T = TypeVar("T")


def _open_sockets() -> set[int]:
    return {id(s) for s in instances_of(socket.socket) if s.fileno() >= 0}


def checked_seconds(seconds: object) -> float:
    """`seconds` as a float if it is a finite number above zero and at most `MAX_TIMEOUT`; else
    `SlyTlsError`: the one rule for a timeout, whichever front-end it was typed into."""
    from .errors import SlyTlsError

    try:
        value = float(seconds)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SlyTlsError(f"timeout must be a positive number of seconds, not {seconds!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise SlyTlsError(f"timeout must be a positive, finite number of seconds, not {seconds!r}")
    if value > MAX_TIMEOUT:
        raise SlyTlsError(f"timeout must be at most {MAX_TIMEOUT:.0f} seconds, not {seconds!r}")
    return value


def run_bounded(work: Callable[[], T], seconds: float, what: str, ports: Iterable[int] = ()) -> T:
    """`work()`, or `TimeoutError` once `seconds` have passed, whatever `work` is waiting for.

    Client libraries bound each read, not the whole exchange: a server that drips
    its answer a byte at a time keeps a read-timeout from ever firing.  So `work`
    runs in a thread, and at the deadline every socket opened since it started is
    shut down: its blocked read returns at once and the thread ends, instead of
    reading on in the background after the caller has moved on.  With `ports`, only
    sockets connected to one of those ports (the server's, the proxy's): another
    thread's connections elsewhere are never touched.
    """
    before = _open_sockets()

    def give_up() -> None:
        _shut_down(s for s in instances_of(socket.socket) if id(s) not in before and _to_port(s, set(ports)))

    return wait_for(work, seconds, what, on_timeout=give_up, why="; its connection was closed")


def wait_for(
    work: Callable[[], T], seconds: float, what: str, *, on_timeout: Callable[[], None] | None = None, why: str = ""
) -> T:
    """`work()` in a daemon thread, or `TimeoutError` after `seconds`: the one thread-with-a-deadline,
    for calls with no timeout of their own (getaddrinfo).  `on_timeout` (which unblocks `work`) runs
    first, and `work` gets a moment to notice; without one, nothing could unblock it, so none is waited."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["result"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=run, name=f"sly-nb-tls-{what}", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        if on_timeout is not None:
            on_timeout()
            worker.join(_GRACE)
        raise TimeoutError(f"{what} did not finish within the time limit{why}")
    error = box.pop("error", None)
    if error is not None:
        try:
            raise error  # type: ignore[misc]
        finally:
            # The traceback holds this frame, which would hold the error: a cycle that keeps the
            # client's frames, and the sockets in them, open until the cycle collector runs.
            del error
    return box.pop("result")  # type: ignore[return-value]


def _to_port(sock: socket.socket, ports: set[int]) -> bool:
    if not ports:
        return True
    try:
        return int(sock.getpeername()[1]) in ports
    except (OSError, IndexError, TypeError, ValueError):
        return False  # not connected (yet): nothing to unblock


def _shut_down(sockets: Iterable[socket.socket]) -> None:
    for sock in sockets:
        try:
            if sock.fileno() >= 0:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed by its owner


def capped(chunks: Iterable[bytes], limit: int = MAX_BODY) -> bytes:
    """The first `limit` bytes of a streamed body; the rest is never read."""
    out = bytearray()
    for chunk in chunks:
        out += chunk
        if len(out) >= limit:
            break
    return bytes(out[:limit])
