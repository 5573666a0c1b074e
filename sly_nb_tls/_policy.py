"""An admin's policy: which certificates may be trusted, and how; read from one TOML file at every change."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ._expiry import EXPIRY_WARNING_DAYS
from ._render import html_table, text_table
from .errors import PolicyError

if TYPE_CHECKING:
    from ._certs import Certificate, TrustedCertificate

__all__ = ["POLICY_VARIABLE", "Policy", "policy_files", "policy_in_force"]

POLICY_VARIABLE = "SLY_NB_TLS_POLICY"

_HEX = re.compile(r"[0-9a-f]{16,128}")
_ALLOWED_ENTRY = re.compile(r"[0-9a-f]{64}|[0-9a-f]{40}")
_MAX_POLICY_BYTES = 1024 * 1024
_MAX_WARNING_DAYS = 3650
_FLAGS = ("allow_system", "allow_leaf", "allow_user_install", "require_name_constraints")
_KEYS = frozenset({"allow", "deny", "expiry_warning_days", "audit_log", *_FLAGS})


@dataclass(frozen=True)
class Policy:
    """The rules in force.  `path` is None when no policy file exists: then everything is allowed."""

    path: str | None = None
    #: SHA-256 fingerprints and key identifiers (lower-case hex); None: any certificate.  A key
    #: identifier allows a certificate whose key hashes to it (RFC 5280's method 1); deny matches the
    #: SKI a certificate claims as well, and a fingerprint's first 16 or more digits (denying more is safe)
    allow: frozenset[str] | None = None
    deny: frozenset[str] = frozenset()
    allow_system: bool = True
    allow_leaf: bool = True
    allow_user_install: bool = True
    require_name_constraints: bool = False
    expiry_warning_days: int = EXPIRY_WARNING_DAYS
    audit_log: str | None = None
    #: the rules the file set, in its own words, for `status`
    rules: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    #: why the policy file could not be read, where the defaults stand in only for showing (`status`)
    problem: str = field(default="", compare=False)

    # -- the checks ----------------------------------------------------
    def check_action(self, *, system: bool = False, user_install: bool = False) -> None:
        """Refuse `add --system`, or `install --scope user` / `--persist`, where the policy forbids it."""
        if system and not self.allow_system:
            self._refuse("add --system", "allow_system = false")
        if user_install and not self.allow_user_install:
            self._refuse("install for this user (--scope user, --persist)", "allow_user_install = false")

    def refusal(self, cert: TrustedCertificate) -> str:
        """The rule that refuses `cert`; "" when it may be trusted."""
        if self.problem:  # the defaults standing in for a policy that cannot be read: never "allowed"
            return f"the policy cannot be read ({self.problem})"
        if self.path is None:
            return ""
        # An equivalent anchor (`_anchors`) is the root it stands for: either fingerprint names it.
        if self.deny and (
            any(sha.startswith(entry) for entry in self.deny for sha in _fingerprints(cert) if sha)
            or {_full(cert).ski, _full(cert).key_identifier} & self.deny
        ):
            return "it is in the deny list"
        # By its key's own identifier, never the SKI it claims: a forged CA may claim any SKI.
        if (
            self.allow is not None
            and not set(_fingerprints(cert)) & self.allow
            and _full(cert).key_identifier not in self.allow
        ):
            return "it is not in the allow list"
        if not self.allow_leaf and not _full(cert).is_ca:
            return "it is not a CA certificate, and allow_leaf = false"
        if self.require_name_constraints and _full(cert).is_ca:
            constraints = _full(cert).name_constraints
            if constraints is None or not constraints.permitted:  # exclusions alone leave almost any site
                return "a CA without nameConstraints naming where it may vouch, and require_name_constraints = true"
        return ""

    def check(self, certificates: Sequence[TrustedCertificate]) -> None:
        """Raise `PolicyError` for the first certificate the policy refuses: then nothing may change."""
        for cert in certificates:
            rule = self.refusal(cert)
            if rule:
                self._refuse(f"{cert.common_name} (SHA-256 {cert.short_fingerprint}…)", rule)

    def _refuse(self, what: str, rule: str) -> None:
        raise PolicyError(f"{what}: refused by the policy, {rule} ({self.path}); nothing was changed")

    # -- rendering -----------------------------------------------------
    def _rows(self) -> list[tuple[str, str]]:
        if self.path is None:
            return [("policy", "none: any certificate may be trusted (no policy file)")]
        return [("policy", self.path), *self.rules]

    def __str__(self) -> str:
        return text_table(["rule", "value"], self._rows())

    def _repr_html_(self) -> str:
        return html_table(["rule", "value"], self._rows())

    @property
    def summary(self) -> str:
        """One line for a header: the file and the rules that differ from the defaults."""
        if self.path is None:
            return "no policy"
        shown = ", ".join(f"{k} {v}" for k, v in self.rules) or "defaults only"
        return f"policy {self.path}: {shown}"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "rules": dict(self.rules), "error": self.problem or None}


def _fingerprints(cert: TrustedCertificate) -> tuple[str, str]:
    """Its SHA-256, and that of the root it stands for when it is an equivalent anchor ("" otherwise)."""
    return cert.sha256, getattr(cert, "original_sha256", "")


def _full(cert: TrustedCertificate) -> Certificate:
    """The parsed certificate: one read at start is parsed only when a rule needs more than its fingerprint."""
    parsed: Certificate | None = getattr(cert, "parsed", None)
    return parsed if parsed is not None else cast("Certificate", cert)


def policy_files() -> list[Path]:
    """Where a policy is looked for, first match wins: the variable, the environment's prefix, the machine."""
    named = os.environ.get(POLICY_VARIABLE, "").strip()
    out = [Path(os.path.expanduser(named))] if named else []
    return [*out, Path(sys.prefix) / "etc" / "sly_nb_tls" / "policy.toml", Path("/etc/sly_nb_tls/policy.toml")]


_cache: dict[tuple[str, int, int, int], Policy] = {}


def policy_in_force() -> Policy:
    """The policy now, read again whenever its file changed; `PolicyError` when it cannot be read (fail closed).

    A `SLY_NB_TLS_POLICY` naming a file that does not exist is an error too: an admin set it, and a
    missing policy must not mean that anything may be trusted.
    """
    named = bool(os.environ.get(POLICY_VARIABLE, "").strip())
    for n, path in enumerate(policy_files()):
        try:
            st = path.stat()
        except FileNotFoundError:
            if n == 0 and named:
                raise PolicyError(
                    f"{path}: the policy file that {POLICY_VARIABLE} names does not exist; "
                    "nothing may be trusted until it does, or the variable is unset"
                ) from None
            continue
        except OSError as exc:
            raise PolicyError(f"{path}: the policy file cannot be read ({exc.strerror or exc})") from None
        key = (str(path), st.st_mtime_ns, st.st_size, st.st_ino)
        policy = _cache.get(key)
        if policy is None:  # another thread may clear the cache meanwhile: keep ours in hand
            policy = _read(path)
            _cache.clear()
            _cache[key] = policy
        return policy
    return Policy()


def _read(path: Path) -> Policy:
    from ._readfile import NotReadable, read_regular_file

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - 3.10
        import tomli as tomllib
    try:
        text = read_regular_file(str(path), _MAX_POLICY_BYTES).decode("utf-8")
    except NotReadable as exc:
        raise PolicyError(f"{path}: the policy file cannot be read ({exc.reason})") from None
    except UnicodeDecodeError:
        raise PolicyError(f"{path}: the policy file is not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{path}: the policy file is not valid TOML: {exc}") from None
    return _validated(path, text, data)


def _validated(path: Path, text: str, data: dict[str, Any]) -> Policy:
    def bad(key: str, why: str) -> PolicyError:
        return PolicyError(f"{path}, line {_line_of(text, key)}: {key}: {why}")

    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise bad(unknown[0], f"not a policy rule (the rules: {', '.join(sorted(_KEYS))})")
    values: dict[str, Any] = {}
    rules: list[tuple[str, str]] = []
    for key in ("allow", "deny"):
        if key in data:
            entries = data[key]
            if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
                raise bad(key, "must be a list of SHA-256 fingerprints or Subject Key Identifiers (hex strings)")
            normal = [e.replace(":", "").replace(" ", "").lower() for e in entries]
            # allow matches exactly: a SHA-256 (64 digits) or a key's identifier (SHA-1: 40); deny also
            # matches a fingerprint's first 16+ digits, the short form status shows.
            fits = _ALLOWED_ENTRY.fullmatch if key == "allow" else _HEX.fullmatch
            wrong = [e for e, n in zip(entries, normal, strict=True) if not fits(n)]
            if wrong:
                what = (
                    "the full SHA-256 (64 hex digits) or key identifier (40)"
                    if key == "allow"
                    else ("a SHA-256 fingerprint (16 or more of its hex digits) or a Subject Key Identifier")
                )
                raise bad(key, f"{wrong[0]!r} is not {what}")
            values[key] = frozenset(normal)
            rules.append((key, f"{len(normal)} certificate(s)"))
    for key in _FLAGS:
        if key in data:
            if not isinstance(data[key], bool):
                raise bad(key, "must be true or false")
            values[key] = data[key]
            rules.append((key, str(data[key]).lower()))
    if "expiry_warning_days" in data:
        days = data["expiry_warning_days"]
        if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= _MAX_WARNING_DAYS:
            raise bad("expiry_warning_days", f"must be a whole number of days from 0 to {_MAX_WARNING_DAYS}")
        values["expiry_warning_days"] = days
        rules.append(("expiry_warning_days", str(days)))
    if "audit_log" in data:
        log = data["audit_log"]
        if not isinstance(log, str) or not os.path.isabs(os.path.expanduser(log)):
            raise bad("audit_log", "must be an absolute path")
        values["audit_log"] = os.path.expanduser(log)
        rules.append(("audit_log", log))
    return Policy(path=str(path), rules=tuple(rules), **values)


def _line_of(text: str, key: str) -> int:
    """The line where `key` is set: tomllib names lines only for syntax errors."""
    pattern = re.compile(rf"^\s*(?:[\"']?{re.escape(key)}[\"']?\s*=|\[+\s*[\"']?{re.escape(key)}[\"']?\s*\])")
    for n, line in enumerate(text.splitlines(), 1):
        if pattern.match(line):
            return n
    return 1
