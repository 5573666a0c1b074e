"""For the whole suite (tests/ and the notebooks): a test that measures time runs alone.

Under pytest-xdist two workers run at once.  Benchmarks judge ratios measured
in the same run, and the other worker's load would still be noise in them, so
an item marked `alone` runs while no other item does: a readers-writer lock on
a file in this run's temp root, held shared by every item and exclusively by an
`alone` one.  While one waits (a `pending` file), no new item starts, so it is
not starved.  A hook, not a fixture, so nbval's notebook cells take part too.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def _run_root(config: pytest.Config) -> Path:
    factory = config._tmp_path_factory  # type: ignore[attr-defined]
    return Path(factory.getbasetemp()).parent  # shared by this run's workers only


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return (yield)
    root = _run_root(item.config)
    alone = item.get_closest_marker("alone") is not None
    pending = root / f"alone-pending-{worker}"
    with open(root / "machine.lock", "a+") as lock:
        if alone:
            pending.touch()
            fcntl.flock(lock, fcntl.LOCK_EX)
        else:
            while any(root.glob("alone-pending-*")):
                time.sleep(0.1)
            fcntl.flock(lock, fcntl.LOCK_SH)
        try:
            return (yield)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            if alone:
                pending.unlink()
