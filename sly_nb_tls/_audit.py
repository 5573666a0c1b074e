"""The audit trail: one JSON line per change or refusal, appended under a lock, never a secret."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import stat
import sys
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._render import Rendered, html_table, text_table, visible

if TYPE_CHECKING:
    from ._certs import TrustedCertificate
    from ._policy import Policy

__all__ = [
    "AUDIT_LIMIT",
    "AuditTrail",
    "append",
    "audit_file",
    "certificate_entry",
    "make_entry",
    "open_for_append",
    "read_trail",
]

#: a line that would take the log past this size first renames it to ``<name>.1`` (replacing the one before)
AUDIT_LIMIT = 10 * 1024 * 1024
_MAX_LINE = 256 * 1024


def audit_file(policy: Policy) -> Path:
    """The policy's `audit_log`, else ``$XDG_STATE_HOME/sly-nb-tls/audit.jsonl`` (``~/.local/state`` by default)."""
    if policy.audit_log:
        return Path(policy.audit_log)
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "sly-nb-tls" / "audit.jsonl"


def home_shown(path: str) -> str:
    """`path` with the home directory written as ``~``: the log says where, not whose machine layout."""
    home = os.path.expanduser("~").rstrip(os.sep)
    if home and (path == home or path.startswith(home + os.sep)):
        return "~" + path[len(home) :]
    return path


def certificate_entry(cert: TrustedCertificate) -> dict[str, str]:
    """What the log says of one certificate: never its PEM body."""
    return {
        "sha256": cert.sha256,
        "subject": cert.subject,
        "issuer": cert.issuer,
        "kind": cert.kind,
        "not_after": f"{cert.not_after:%Y-%m-%dT%H:%M:%SZ}",
    }


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no password entry for this uid (a container's random uid)
        return str(os.getuid()) if hasattr(os, "getuid") else "?"


def _kernel() -> str | None:
    """The kernel's connection file name, when this process is a kernel started with ``-f FILE``
    (or ``--f=FILE``, as VS Code's launcher writes it)."""
    for flag, value in itertools.pairwise(sys.argv):
        if flag in ("-f", "--f") and value.endswith(".json"):
            return os.path.basename(value)
    for arg in sys.argv:
        for prefix in ("-f=", "--f="):
            if arg.startswith(prefix) and arg.endswith(".json"):
                return os.path.basename(arg[len(prefix) :])
    return None


_masking: tuple[int, list[str]] = (0, [])


def _masked(text: str) -> str:
    """`text` with every secret value of this environment masked: a path is the user's text, and a
    folder may be named after a token.  The secrets are worked out again only when the environment changed."""
    global _masking
    from ._secrets import redact, secret_values

    key = hash(tuple(os.environ.items()))
    if _masking[0] != key:
        _masking = (key, secret_values())
    return redact(text, _masking[1]) if _masking[1] else text


def make_entry(
    action: str,
    outcome: str,
    certificates: Iterable[TrustedCertificate] = (),
    sources: Iterable[tuple[str, str | None]] = (),
    **more: object,
) -> dict[str, Any]:
    """One record: who, where, when, what, and how it ended.  `sources` are (kind, path) pairs.

    A record is made only of fingerprints, certificates' names and dates, paths and our own one-line
    reasons: never of a variable's value, a file's content or a PEM body.  The paths and reasons are
    the user's words, so the environment's secrets are masked in them.
    """
    import socket

    entry: dict[str, Any] = {
        "time": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "user": _user(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "kernel": _kernel(),
        "action": action,
        "outcome": outcome,
        "certificates": [certificate_entry(c) for c in certificates],
        "sources": [
            {"kind": kind, "path": _masked(home_shown(os.path.normpath(path))) if path else None}
            for kind, path in sources
        ],
    }
    entry.update({k: _masked(v) if isinstance(v, str) else v for k, v in more.items() if v not in (None, "", [], ())})
    return entry


def open_for_append(path: Path) -> int:
    """An append-only descriptor of the log, created 0600 in a 0700 directory; `OSError` if it cannot be.

    Never through a symbolic link, and only a regular file: in a folder others can write to, a link
    would make our lines land in a file of theirs choosing (a shell's rc file), and a FIFO would hang
    every change (opened without blocking, then refused)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0), 0o600)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{path} is not a regular file")
    return fd


def append(path: Path, entry: dict[str, Any]) -> None:
    """Append `entry` as one line with one `write`, under an exclusive lock; rotate past `AUDIT_LIMIT`.

    Another process may rotate the file between our open and our lock: then the descriptor names
    the old file, and the line is written to the new one instead.
    """
    line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
    if len(line) > _MAX_LINE:  # a change of thousands of certificates: the count, not the list
        entry = {**entry, "certificates": f"{len(entry['certificates'])} certificates"}
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
    for _ in range(8):
        fd = open_for_append(path)
        try:
            _lock(fd)
            here = os.fstat(fd)
            try:
                named = os.stat(path)
            except FileNotFoundError:
                continue  # rotated away while we waited for the lock
            if (named.st_dev, named.st_ino) != (here.st_dev, here.st_ino):
                continue
            if here.st_size and here.st_size + len(line) > AUDIT_LIMIT:
                os.replace(path, f"{path}.1")  # under the lock: a rename, so a reader keeps its file
                continue
            os.write(fd, line)
            return
        finally:
            os.close(fd)  # releases the lock
    raise OSError(f"{path}: the log kept changing under us; the line was not written")


def _lock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # Windows: O_APPEND alone keeps one write in one piece
        return
    fcntl.flock(fd, fcntl.LOCK_EX)


@dataclass(repr=False)
class AuditTrail(Rendered):
    """The last records of the audit log, oldest first."""

    path: str
    records: list[dict[str, Any]] = field(default_factory=list)
    #: lines that are not JSON records (a damaged or foreign line), counted, never shown raw
    unreadable: int = 0
    warnings: list[str] = field(default_factory=list)

    def _rows(self) -> list[list[str]]:
        rows = []
        for r in self.records:
            certs = r.get("certificates", [])
            if isinstance(certs, list):
                shown = ", ".join(f"{_cn(c.get('subject', ''))} ({str(c.get('sha256', ''))[:16]})" for c in certs)
            else:
                shown = str(certs)
            where = ", ".join(str(s.get("path") or s.get("kind")) for s in r.get("sources", []) if isinstance(s, dict))
            outcome = str(r.get("outcome", ""))
            if r.get("reason"):
                outcome += f": {r['reason']}"
            rows.append(
                [
                    str(r.get("time", ""))[:19].replace("T", " "),
                    f"{r.get('user', '')}@{r.get('host', '')}",
                    str(r.get("action", "")),
                    outcome,
                    shown or "-",
                    where or "-",
                ]
            )
        return rows

    _HEADERS = ("time (UTC)", "who", "action", "outcome", "certificates", "from")

    def _notes(self) -> list[str]:
        notes = [f"{self.unreadable} line(s) of the log are not records and were skipped"] if self.unreadable else []
        return notes

    def __str__(self) -> str:
        lines = [f"audit log {self.path}: no records"]
        if self.records:
            lines = [
                f"audit log {self.path}: the last {len(self.records)} record(s)",
                text_table(self._HEADERS, self._rows()),
            ]
        return "\n".join(lines + [f"! {visible(w)}" for w in self.warnings] + self._notes())

    def _repr_html_(self) -> str:
        title = f"audit log {self.path}: " + (
            f"the last {len(self.records)} record(s)" if self.records else "no records"
        )
        return html_table(self._HEADERS, self._rows(), title=title, warnings=self.warnings, notes=self._notes())

    def _summary(self) -> str:
        return f"{len(self.records)} audit record(s) from {self.path}"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "records": self.records, "unreadable": self.unreadable}


def _cn(subject: object) -> str:
    text = str(subject)
    for part in text.split(","):
        if part.strip().upper().startswith("CN="):
            return part.strip()[3:]
    return text or "?"


def read_trail(path: Path, n: int) -> AuditTrail:
    """The last `n` records of `path` (none when it does not exist yet), reaching into the rotated
    ``.1`` when the current file holds fewer."""
    from ._render import shown_path

    trail = AuditTrail(shown_path(path))
    if n <= 0:
        return trail
    last: deque[bytes] = deque(maxlen=n)
    for part in (Path(f"{path}.1"), path):
        try:
            with open(part, "rb") as fh:
                last.extend(line for line in fh if line.strip())
        except FileNotFoundError:
            continue
    for line in last:
        try:
            record = json.loads(line)
        except ValueError:
            trail.unreadable += 1
            continue
        if isinstance(record, dict):
            trail.records.append(record)
        else:
            trail.unreadable += 1
    return trail
