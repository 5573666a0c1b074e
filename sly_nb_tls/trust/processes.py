"""This kernel's child processes, and which of them started before the last `add`.

A process reads the CA variables when it starts (and a forked pool worker holds
this kernel's state from when it forked), so nothing done later reaches it:
`status` names such processes so the user can recreate them.  Linux only: it
reads /proc; elsewhere the answer is None ("cannot tell").
"""

from __future__ import annotations

import os
import time

__all__ = ["boot_clock", "children_started_before", "proc_stat"]


def boot_clock() -> float | None:
    """Seconds since boot, the clock /proc start times use; None where there is none."""
    clock = getattr(time, "CLOCK_BOOTTIME", None)
    if clock is None or not os.path.isdir("/proc/self"):
        return None
    return time.clock_gettime(clock)


def proc_stat(pid: str) -> tuple[int, int] | None:
    """(parent pid, start time in clock ticks since boot) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            line = fh.read()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")".
    fields = line.rsplit(b")", 1)[-1].split()
    try:
        return int(fields[1]), int(fields[19])
    except (IndexError, ValueError):
        return None


def _command(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            raw = fh.read()
    except OSError:
        return "?"
    from .._secrets import redact, secret_values

    # Command lines carry URLs with passwords and tokens as often as anything: redact before cutting.
    text = redact(raw.replace(b"\0", b" ").decode("utf-8", "replace").strip(), secret_values())
    return text if len(text) <= 80 else text[:79] + "…"


def children_started_before(moment: float | None) -> list[str] | None:
    """ "pid command" of each descendant of this process that started before `moment` (boot clock).

    None where that cannot be told (no /proc).  An empty list when `moment` is None
    (nothing was added).
    """
    if boot_clock() is None:
        return None
    if moment is None:
        return []
    try:
        pids = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return None
    info = {pid: st for pid in pids if (st := proc_stat(pid)) is not None}
    # /proc counts in clock ticks (10 ms): a child that started in the tick of the add may have
    # started just after it, so only those of earlier ticks are listed.
    moment_ticks = int(moment * os.sysconf("SC_CLK_TCK"))
    children: dict[int, list[str]] = {}
    for pid, (ppid, _) in info.items():
        children.setdefault(ppid, []).append(pid)
    out = []
    stack = list(children.get(os.getpid(), []))
    while stack:
        pid = stack.pop()
        stack.extend(children.get(int(pid), []))
        if info[pid][1] < moment_ticks:
            out.append(f"{pid} {_command(pid)}")
    return sorted(out, key=lambda s: int(s.split(" ", 1)[0]))
