"""The certificates trusted with `add` against a chain: one re-keyed under the same name (a rotation), one expiring.

diagnose never imports trust: the composition root (`sly_nb_tls._api`) plugs in the
extras registered now (`tell_trusted_extras`), as it does the CA files (`issuers`).

A rotation is the usual end of a TLS-inspecting proxy's CA: IT re-keys it under the
same name, the proxy signs with the new key, and the extra trusted here still holds
the old one.  The chain then ends (or its missing root is named) at a CA whose
subject is that of a trusted extra, but whose key is not.  Every check takes `now`,
so the expiry rule is tested with the clock injected.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .._certs import EXPIRY_WARNING_DAYS, Certificate, expiry_warning
from .._fixes import Fix, command, fix
from .._render import Rendered, html_table, shown_path, visible
from .issuers import MAX_DEPTH, issued

__all__ = [
    "Rotation",
    "expired_anchor",
    "expired_anchor_fix",
    "expiry_notes",
    "extras_in_use",
    "find_rotation",
    "tell_trusted_extras",
    "trusted_extras",
    "warning_days",
]

#: asked at each test and fetch; the composition root (`sly_nb_tls._api`) plugs in the trust half's answer
_trusted_extras: list[Callable[[], Sequence[Certificate]]] = [tuple]


def tell_trusted_extras(provider: Callable[[], Sequence[Certificate]]) -> None:
    """Where `trusted_extras` gets its answer: the certificates `add` trusts now, parsed."""
    _trusted_extras[0] = provider


def trusted_extras() -> tuple[Certificate, ...]:
    """The extras trusted now, latest expiry first (so the newest of several with one name speaks)."""
    return tuple(sorted(_trusted_extras[0](), key=lambda c: c.not_after, reverse=True))


def warning_days() -> int:
    """How far ahead an expiry is warned about: the policy's ``expiry_warning_days``, else the default.

    A policy that cannot be read refuses changes elsewhere; a test still runs, with the default.
    """
    from .._policy import policy_in_force
    from ..errors import PolicyError

    try:
        return policy_in_force().expiry_warning_days
    except PolicyError:
        return EXPIRY_WARNING_DAYS


def _utcnow(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.timezone.utc)


def _key_id(hex_id: str) -> str:
    return hex_id.upper() or "none"


def _colons(sha256: str) -> str:
    """A fingerprint as browsers and openssl show it: colon-separated upper-case pairs."""
    return ":".join(sha256[i : i + 2] for i in range(0, len(sha256), 2)).upper()


def _short(sha256: str) -> str:
    return _colons(sha256[:16])


# -- rotation ----------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class Rotation(Rendered):
    """A certificate trusted here, re-keyed under the same name: the chain leans on the new key, the extra
    holds the old one.  `new_sha256` is "" when the new certificate was neither sent nor found here; then
    `new_key_id` is the Authority Key Identifier of the certificate it signed (`signed`)."""

    #: the re-keyed certificate's common name, and its full subject (the same in both)
    name: str
    subject: str
    is_ca: bool
    old_sha256: str
    old_key_id: str
    old_not_after: dt.datetime
    #: where the old one was added from
    old_source: str
    #: whether the old one had expired when the test ran
    old_expired: bool = False
    new_sha256: str = ""
    new_key_id: str = ""
    new_not_after: dt.datetime | None = None
    #: "presented", or where it was found (a store, ``aia:URL``); "" when not known
    new_source: str = ""
    #: the certificate the new key signed, when the new one itself is not known
    signed: str = ""

    @property
    def old_fingerprint(self) -> str:
        return _colons(self.old_sha256)

    @property
    def new_fingerprint(self) -> str:
        """The new certificate's SHA-256 (colon-separated pairs); "" when the server did not send it."""
        return _colons(self.new_sha256)

    @property
    def what(self) -> str:
        return f'the {"CA" if self.is_ca else "certificate"} "{self.name}"'

    def headline(self) -> str:
        return (
            f"rotated: {self.what} has a new key — the chain is signed with the new one, "
            "the one trusted here has the old one (a re-keyed CA, or an impersonation: check with IT)"
        )

    def _old_line(self) -> str:
        state = "expired" if self.old_expired else "expires"
        return (
            f"old (trusted here): SHA-256 {self.old_fingerprint} · {state} {self.old_not_after:%Y-%m-%d} · "
            f"from {_shown(self.old_source)}"
        )

    def _new_line(self) -> str:
        if self.new_sha256:
            until = f" · expires {self.new_not_after:%Y-%m-%d}" if self.new_not_after else ""
            return f"new ({_shown(self.new_source)}): SHA-256 {self.new_fingerprint}{until}"
        return (
            f'new (not sent): key id {_key_id(self.new_key_id)} (the Authority Key Identifier of "{self.signed}"); '
            "its SHA-256 needs the certificate itself: ask IT for it"
        )

    def lines(self) -> list[str]:
        """The headline and the two keys, one line each."""
        return [self.headline(), self._old_line(), self._new_line()]

    def remedy(self, url: str, saved: str | None = None) -> Fix:
        """Check the new fingerprint with IT, add the new certificate, remove the old one when it expires."""
        old, until = _short(self.old_sha256), f"{self.old_not_after:%Y-%m-%d}"
        if self.old_expired:
            later = f"; remove the old one ({old}…) now: it expired on {until}: "
        else:
            later = (
                f"; keep the old one ({old}…) while servers still use it, and remove it when it expires on {until}: "
            )
        remove = command("remove", self.old_sha256[:16])
        if not self.new_sha256:
            return fix(
                f"{self.what} was re-keyed (rotated), and the new one is neither in the chain nor on this machine: "
                f"ask IT for it (key id {_key_id(self.new_key_id)}), check its SHA-256 fingerprint with them, then ",
                command("add", "FILE"), later, remove, kind="ask-admin",
            )  # fmt: skip
        check = f"{self.what} was re-keyed (rotated): check the new fingerprint {self.new_fingerprint} with IT, then "
        if saved:
            return fix(check, command("add", saved), later, remove)
        return fix(
            check, command("fetch", url, save="new-ca.crt"), " and ", command("add", "new-ca.crt"), later, remove
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "subject": self.subject,
            "is_ca": self.is_ca,
            "old": {"sha256": self.old_sha256, "fingerprint": self.old_fingerprint, "key_id": self.old_key_id,
                    "not_after": self.old_not_after.isoformat(), "expired": self.old_expired,
                    "source": self.old_source},
            "new": {"sha256": self.new_sha256 or None, "fingerprint": self.new_fingerprint or None,
                    "key_id": self.new_key_id, "sent": self.new_source == "presented",
                    "not_after": self.new_not_after.isoformat() if self.new_not_after else None,
                    "source": self.new_source or None, "signed": self.signed or None},
        }  # fmt: skip

    def __str__(self) -> str:
        head, *rest = self.lines()
        return "\n".join([f"⚠ {visible(head)}"] + [f"    {visible(x)}" for x in rest])

    def _rows(self) -> list[list[str]]:
        state = "expired" if self.old_expired else "expires"
        old = ["old (trusted here)", self.old_fingerprint, _key_id(self.old_key_id),
               f"{state} {self.old_not_after:%Y-%m-%d}", _shown(self.old_source)]  # fmt: skip
        if self.new_sha256:
            until = f"expires {self.new_not_after:%Y-%m-%d}" if self.new_not_after else ""
            new = ["new", self.new_fingerprint, _key_id(self.new_key_id), until, _shown(self.new_source)]
        else:
            new = ["new", "not sent: ask IT", _key_id(self.new_key_id), "", f'signed "{self.signed}"']
        return [old, new]

    def _repr_html_(self) -> str:
        return html_table(["key", "SHA-256", "key id", "validity", "from"], self._rows(), title=self.headline(),
                          title_class="warn")  # fmt: skip


def _shown(source: str) -> str:
    return shown_path(source) if source.startswith("/") else (source or "unknown")


def _same_name(subject: str, extras: Sequence[Certificate]) -> list[Certificate]:
    return [e for e in extras if e.subject == subject]


def _rotation(old: Certificate, now: dt.datetime, new: Certificate | None, signed: Certificate | None) -> Rotation:
    base = Rotation(
        name=old.common_name, subject=old.subject, is_ca=old.is_ca, old_sha256=old.sha256, old_key_id=old.ski,
        old_not_after=old.not_after, old_source=old.source, old_expired=old.not_after < now,
    )  # fmt: skip
    if new is not None:
        return dataclasses.replace(base, new_sha256=new.sha256, new_key_id=new.ski, new_not_after=new.not_after,
                                   new_source=new.source or "presented")  # fmt: skip
    assert signed is not None
    return dataclasses.replace(base, new_key_id=signed.aki, signed=signed.common_name)


def find_rotation(
    path: Sequence[Certificate], extras: Sequence[Certificate], now: dt.datetime | None = None
) -> Rotation | None:
    """The top of a chain that did not verify, or the issuer it names, trusted here under the same subject with
    another key.  `path` is the chain from the leaf up (completed, where that found more)."""
    if not path:
        return None
    top, now = path[-1], _utcnow(now)
    for old in _same_name(top.subject, extras):
        if old.spki_sha256 and top.spki_sha256 and old.spki_sha256 != top.spki_sha256:
            return _rotation(old, now, new=top, signed=None)
    if top.self_signed:
        return None
    named = _same_name(top.issuer, extras)
    if not named or any(issued(top, old) for old in named):
        return None  # nothing of that name trusted here, or one that did sign it: the key has not changed
    if top.aki and any(top.aki == old.ski for old in named):
        return None  # the same key identifier: another problem (a bad signature), not a new key
    return _rotation(named[0], now, new=None, signed=top)


# -- expiry ------------------------------------------------------------------------------------
def extras_in_use(chain: Sequence[Certificate], extras: Sequence[Certificate]) -> list[Certificate]:
    """The extras a chain leans on: those in it, then those above its top, issuer by issuer."""
    by_fingerprint = {e.sha256: e for e in extras}
    used = [by_fingerprint[c.sha256] for c in chain if c.sha256 in by_fingerprint]
    top = chain[-1] if chain else None
    while top is not None and not top.self_signed and len(used) < MAX_DEPTH:
        parent = next((e for e in extras if e not in used and e != top and issued(top, e)), None)
        if parent is not None:
            used.append(parent)
        top = parent
    return used


def expiry_notes(used: Sequence[Certificate], days: int, now: dt.datetime | None = None) -> list[str]:
    """One warning per extra in use that has expired, or expires within `days` days: its name, fingerprint
    and date, and what to do."""
    out, now = [], _utcnow(now)
    for cert in used:
        name = f'the certificate "{cert.common_name}" trusted here (SHA-256 {cert.short_fingerprint}…)'
        line = expiry_warning(name, cert.not_after, days, now)
        if line and cert.not_after < now:
            out.append(f"{line}; nothing it vouches for verifies: ask your admin for its successor, add it, "
                       "and remove this one")  # fmt: skip
        elif line:
            out.append(f"{line}; ask your admin for its successor and add it before then")
    return out


def expired_anchor(
    chain: Sequence[Certificate], used: Sequence[Certificate], now: dt.datetime | None = None
) -> Certificate | None:
    """The expired extra an "expired" verdict is about, when the server's own certificate is in date."""
    now = _utcnow(now)
    leaf = chain[0] if chain else None
    if leaf is None or not leaf.not_before <= now <= leaf.not_after:
        return None
    presented_expired = any(c.not_after < now for c in chain)
    return next((c for c in used if c.not_after < now and (not presented_expired or c in chain)), None)


def expired_anchor_fix(cert: Certificate) -> tuple[str, Fix]:
    """(the cause, the fix) when a certificate trusted here has expired: its successor, then remove it."""
    cause = (
        f'the certificate "{cert.common_name}" trusted here (SHA-256 {cert.short_fingerprint}…, from '
        f"{_shown(cert.source)}) expired on {cert.not_after:%Y-%m-%d}; the server's own certificate is in date"
    )
    return cause, fix(
        f'ask your admin for the successor of "{cert.common_name}", check its fingerprint with them, then ',
        command("add", "FILE"), ", and remove the expired one: ", command("remove", cert.sha256[:16]),
        kind="ask-admin",
    )  # fmt: skip
