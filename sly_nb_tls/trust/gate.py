"""The one door every change passes: the admin's policy is checked before it, the audit line written after it."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .._audit import append, audit_file, make_entry, open_for_append
from .._expiry import expiry_warning, warns
from .._policy import Policy, policy_in_force
from ..errors import PolicyError

if TYPE_CHECKING:
    from .._certs import TrustedCertificate

__all__ = [
    "AuditSource",
    "Door",
    "admit",
    "admit_narrowing",
    "expiry_warnings",
    "origins_as_sources",
    "policy_or_default",
    "record_refusals",
    "screen",
]

#: (kind, path): what a change came from, as the audit log says it ("file", "PEM text", "env file", ...)
AuditSource = tuple[str, "str | None"]


@dataclass
class Door:
    """A change the policy let through: it writes the audit line once the change is made."""

    action: str
    policy: Policy
    log: Path
    sources: list[AuditSource] = field(default_factory=list)

    def record(self, certificates: Iterable[TrustedCertificate], outcome: str = "ok", **more: object) -> list[str]:
        """Append the change to the audit log; what to warn about when it cannot be written."""
        return _record(self.log, make_entry(self.action, outcome, certificates, self.sources, **more))


def admit(
    action: str,
    certificates: list[TrustedCertificate],
    sources: Iterable[AuditSource] = (),
    *,
    system: bool = False,
    user_install: bool = False,
) -> Door:
    """Check `action` on `certificates` against the policy in force; `PolicyError` (audited) if it refuses.

    A policy that cannot be read refuses too (fail closed).  So does an audit log the policy names
    that cannot be opened: the admin asked for a record of every change.
    """
    sources = list(sources)
    try:
        policy = policy_in_force()
    except PolicyError as exc:
        _record(audit_file(Policy()), make_entry(action, "refused", certificates, sources, reason=str(exc)))
        raise
    try:
        policy.check_action(system=system, user_install=user_install)
        policy.check(certificates)
    except PolicyError as exc:
        _record(audit_file(policy), make_entry(action, "refused", certificates, sources, reason=str(exc)))
        raise
    return Door(action, policy, _writable_log(policy), sources)


def admit_narrowing(action: str, sources: Iterable[AuditSource] = ()) -> tuple[Door, list[str]]:
    """A change that only takes trust away (remove, reset, uninstall): nothing refuses it — neither a
    rule, nor a policy that cannot be read, nor an audit log that cannot be written, since refusing it
    would keep a CA trusted that someone wants gone.  Each is named in the warnings instead."""
    policy, warnings = policy_or_default()
    log = audit_file(policy)
    if policy.audit_log:
        try:
            os.close(open_for_append(log))
        except OSError as exc:
            warnings.append(f"the audit log the policy names, {log}, cannot be written ({exc.strerror or exc})")
    return Door(action, policy, log, list(sources)), warnings


def _writable_log(policy: Policy) -> Path:
    """The audit log; when the policy names it, checked to open before anything changes."""
    log = audit_file(policy)
    if policy.audit_log:
        try:
            os.close(open_for_append(log))
        except OSError as exc:
            raise PolicyError(
                f"{log}: the audit log the policy names cannot be written ({exc.strerror or exc}); nothing was changed"
            ) from None
    return log


def policy_or_default() -> tuple[Policy, list[str]]:
    """The policy in force, or the defaults and one warning when it cannot be read (for what only shows)."""
    try:
        return policy_in_force(), []
    except PolicyError as exc:
        return Policy(problem=str(exc)), [f"{exc}: until it is fixed, nothing more may be trusted"]


def screen(
    certificates: Iterable[TrustedCertificate], policy: Policy, now: dt.datetime | None = None
) -> tuple[list[TrustedCertificate], list[tuple[TrustedCertificate, str]]]:
    """At start: (those to trust, those skipped and why): refused by the policy, or already expired.

    Without a policy file and with nothing expired, no certificate is parsed: start-up stays cheap.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    kept: list[TrustedCertificate] = []
    skipped: list[tuple[TrustedCertificate, str]] = []
    for cert in certificates:
        rule = policy.refusal(cert)
        if rule:
            skipped.append((cert, f"refused by the policy, {rule} ({policy.path})"))
        elif cert.not_after < now:
            skipped.append((cert, f"expired on {cert.not_after:%Y-%m-%d}"))
        else:
            kept.append(cert)
    return kept, skipped


def record_refusals(
    action: str, refused: Sequence[tuple[TrustedCertificate, str]], sources: list[AuditSource], policy: Policy
) -> list[str]:
    """One audit line per certificate the policy refused where nothing is raised (at start); what to
    warn about when the log cannot be written (once)."""
    warnings: list[str] = []
    for cert, why in refused:
        warnings = warnings or _record(audit_file(policy), make_entry(action, "refused", [cert], sources, reason=why))
    return warnings


def expiry_warnings(certificates: Iterable[TrustedCertificate], days: int, now: dt.datetime | None = None) -> list[str]:
    """One line per certificate that has expired or expires within `days` days, naming the date;
    none that the certificate's own warnings say already."""
    out = []
    for cert in certificates:
        if not warns(cert.not_after, days, now):
            continue  # the name is read only for a warning: a stored certificate parses to give it
        line = expiry_warning(cert.common_name, cert.not_after, days, now)
        if line and not (line.endswith(f"expired on {cert.not_after:%Y-%m-%d}") and line in cert.warnings):
            out.append(line)
    return out


def origins_as_sources(origins: Mapping[str, object]) -> list[AuditSource]:
    """The audit's sources for `LoadedSources.origins` labels: PEM text and bytes have no path."""
    out: list[AuditSource] = []
    for label in origins:
        if label in ("<PEM text>", "<bytes>"):
            out.append((label.strip("<>"), None))
        else:
            out.append(("directory" if os.path.isdir(label) else "file", label))
    return out


def _record(log: Path, entry: dict[str, object]) -> list[str]:
    try:
        append(log, entry)
    except OSError as exc:
        return [f"the audit log {log} cannot be written ({exc.strerror or exc}): this change is not in it"]
    return []
