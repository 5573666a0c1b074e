"""When a trusted certificate expires, in one line: cheap to import, for the kernel's start-up path."""

from __future__ import annotations

import datetime as dt

from ._render import visible

__all__ = ["EXPIRY_WARNING_DAYS", "expires_within", "expiry_warning", "warns"]

#: how far ahead an expiry is warned about when no policy says otherwise (`_policy`)
EXPIRY_WARNING_DAYS = 30


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def expires_within(not_after: dt.datetime, days: int, now: dt.datetime | None = None) -> bool:
    """Not expired at `now`, but will be within `days` days."""
    now = now or _utcnow()
    return now <= not_after < now + dt.timedelta(days=days)


def warns(not_after: dt.datetime, days: int, now: dt.datetime | None = None) -> bool:
    """Expired, or expiring within `days` days: what `expiry_warning` has a line for."""
    now = now or _utcnow()
    return not_after < now + dt.timedelta(days=days)


def expiry_warning(name: str, not_after: dt.datetime, days: int, now: dt.datetime | None = None) -> str:
    """The one line that says a trusted certificate has expired or expires within `days` days; "" if neither."""
    now = now or _utcnow()
    if not_after < now:
        return f"{visible(name)}: expired on {not_after:%Y-%m-%d}"
    if expires_within(not_after, days, now):
        return f"{visible(name)}: expires in {(not_after - now).days} days, on {not_after:%Y-%m-%d}"
    return ""
