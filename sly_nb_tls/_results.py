"""Result objects for add / remove / status / reset: data first, then text and HTML.

In [1]: r = sly_nb_tls.add_certs("corp-chain.crt")
In [2]: r.added[0].common_name, r.warnings
Out[2]: ('Corp Root CA', [])
In [3]: print(r)
✓ Trusted 2 new certificate(s) in this kernel ...

Every object has `__str__` (terminals, logs) and an escaped `_repr_html_`
(notebooks); IPython's pretty printer uses the text form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ._render import Table, html_table, visible

if TYPE_CHECKING:
    from ._certs import Certificate

__all__ = ["AddResult", "EnvVarState", "RemoveResult", "ResetResult", "TrustStatus"]

_CERT_HEADERS = ["certificate", "kind", "expires", "SHA-256"]


class _Result:
    # Subclasses are @dataclass(repr=False): a generated __repr__ would sit
    # before this class in the MRO and IPython would print it instead.
    def _repr_pretty_(self, p: object, cycle: bool) -> None:
        p.text(str(self))  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {str(self).splitlines()[0]}>"

    def _repr_html_(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError


def _cert_table(certs: list[Certificate], indent: str = "  ") -> str:
    t = Table(_CERT_HEADERS)
    for c in certs:
        t.add(c.summary_row())
    return t.render(indent)


@dataclass(repr=False)
class AddResult(_Result):
    """What one `add` changed."""

    added: list[Certificate] = field(default_factory=list)
    already_trusted: list[Certificate] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    bundle_path: str = ""
    variables_set: list[str] = field(default_factory=list)
    live_updated: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    total_trusted: int = 0

    @property
    def certificates(self) -> list[Certificate]:
        return self.added + self.already_trusted

    def _headline(self) -> str:
        if not self.added:
            return f"✓ Nothing new: all {len(self.already_trusted)} certificate(s) were already trusted"
        return (
            f"✓ Trusted {len(self.added)} new certificate(s) in this kernel and its child processes "
            f"({self.total_trusted} extra in all)"
        )

    def _details(self) -> list[str]:
        out = []
        if self.variables_set:
            out.append("set " + ", ".join(self.variables_set) + f" → {self.bundle_path}")
        if self.live_updated:
            out.append("updated live clients: " + ", ".join(self.live_updated))
        out.extend(self.notes)
        out.append("undo: %sly_tls remove <fingerprint> · %sly_tls reset")
        return out

    def __str__(self) -> str:
        lines = [self._headline()]
        certs = self.added or self.already_trusted
        if certs:
            lines.append(_cert_table(certs))
        lines += [f"  ! {visible(w)}" for w in self.warnings]
        lines += [f"  {visible(d)}" for d in self._details()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        certs = self.added or self.already_trusted
        return html_table(
            _CERT_HEADERS,
            [c.summary_row() for c in certs],
            title=self._headline(),
            title_class="ok",
            warnings=self.warnings,
            notes=self._details(),
        )


@dataclass(repr=False)
class ResetResult(_Result):
    """What `reset` put back, and what it deliberately left alone."""

    was_active: bool = False
    restored: list[tuple[str, str | None]] = field(default_factory=list)
    left: list[tuple[str, str | None]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    live_contexts_holding: int = 0

    def _lines(self) -> list[str]:
        if not self.was_active:
            return ["Nothing to reset: no extra certificates are registered."]
        out = ["✓ Reset: the extra certificates are no longer trusted by new connections"]
        grouped: dict[str | None, list[str]] = {}
        for var, value in self.restored:
            grouped.setdefault(value, []).append(var)
        for value, names in grouped.items():
            out.append(
                f"restored {', '.join(names)} = {value}"
                if value is not None
                else f"unset {', '.join(names)} (unset before, as now)"
            )
        for var, value in self.left:
            out.append(f"left {var} = {value}: something else changed it after add; not overwritten")
        out.extend(self.notes)
        if self.live_contexts_holding:
            out.append(
                f"{self.live_contexts_holding} live client context(s) still hold the removed "
                "certificates (OpenSSL cannot remove them); recreate those clients or restart the kernel"
            )
        return out

    def __str__(self) -> str:
        lines = self._lines()
        return "\n".join([lines[0]] + [f"  {visible(x)}" for x in lines[1:]])

    def _repr_html_(self) -> str:
        lines = self._lines()
        return html_table([], [], title=lines[0], title_class="ok", notes=lines[1:])


@dataclass(repr=False)
class RemoveResult(_Result):
    removed: list[Certificate] = field(default_factory=list)
    remaining: list[Certificate] = field(default_factory=list)
    reset: ResetResult | None = None
    live_contexts_holding: int = 0

    def _headline(self) -> str:
        return f"✓ Removed {len(self.removed)} certificate(s); {len(self.remaining)} extra remain"

    def _notes(self) -> list[str]:
        out = []
        if self.reset is not None:
            out.append("that was the last one, so everything was reset:")
            out.extend(self.reset._lines()[1:])
        elif self.live_contexts_holding:
            out.append(
                f"{self.live_contexts_holding} live client context(s) still hold the removed certificate(s) "
                "(OpenSSL cannot remove them); recreate those clients or restart the kernel"
            )
        return out

    def __str__(self) -> str:
        lines = [self._headline(), _cert_table(self.removed)]
        lines += [f"  {visible(n)}" for n in self._notes()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return html_table(
            _CERT_HEADERS,
            [c.summary_row() for c in self.removed],
            title=self._headline(),
            title_class="ok",
            notes=self._notes(),
        )


@dataclass
class EnvVarState:
    name: str
    original: str | None
    ours: str | None
    current: str | None

    @property
    def changed_by_other(self) -> bool:
        return self.ours is not None and self.current != self.ours

    def describe(self) -> str:
        if self.ours is None:
            return "untouched"
        if self.changed_by_other:
            return f"changed by something else after add (now {self.current})"
        was = self.original if self.original is not None else "unset"
        return f"ours (was {was})"


@dataclass(repr=False)
class TrustStatus(_Result):
    """A snapshot of what this kernel trusts beyond its defaults, and how to undo it."""

    active: bool = False
    certificates: list[Certificate] = field(default_factory=list)
    variables: list[EnvVarState] = field(default_factory=list)
    bundle_path: str | None = None
    base_files: list[str] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)
    swapped: list[str] = field(default_factory=list)
    live_contexts: int = 0
    live_contexts_holding_removed: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def changed_by_other(self) -> list[str]:
        return [v.name for v in self.variables if v.changed_by_other]

    def _headline(self) -> str:
        if not self.active:
            return "No extra certificates are trusted (sly_nb_tls changed nothing)."
        return f"{len(self.certificates)} extra certificate(s) trusted in this kernel"

    def _notes(self) -> list[str]:
        if not self.active:
            return []
        out = [f"bundle: {self.bundle_path} (base: {', '.join(self.base_files) or 'none'})"]
        grouped: dict[str, list[str]] = {}
        for v in self.variables:
            if v.ours is not None:
                grouped.setdefault(v.describe(), []).append(v.name)
        out += [f"{', '.join(names)}: {state}" for state, names in grouped.items()]
        if self.hooks:
            out.append("new client contexts: " + ", ".join(self.hooks))
        if self.swapped:
            out.append("swapped shared contexts: " + ", ".join(self.swapped))
        if self.live_contexts:
            out.append(f"live client contexts given the extras: {self.live_contexts}")
        if self.live_contexts_holding_removed:
            out.append(
                f"{self.live_contexts_holding_removed} live context(s) still hold removed certificates: "
                "recreate those clients or restart the kernel"
            )
        out.append("undo: %sly_tls remove <fingerprint> · %sly_tls reset")
        return out

    def __str__(self) -> str:
        lines = [self._headline()]
        if self.certificates:
            lines.append(_cert_table(self.certificates))
        lines += [f"  ! {visible(w)}" for w in self.warnings]
        lines += [f"  {visible(n)}" for n in self._notes()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return html_table(
            _CERT_HEADERS,
            [c.summary_row() for c in self.certificates],
            title=self._headline(),
            warnings=self.warnings,
            notes=self._notes(),
        )
