"""What `load_env` did: each key's fate, the files read, the certificates registered."""

from __future__ import annotations

from dataclasses import dataclass, field

from .._render import Rendered, html_table, shown_path, text_table, visible
from .results import AddResult

__all__ = ["EnvKey", "EnvResult"]


@dataclass
class EnvKey:
    name: str
    action: str  # "set", "kept" (environment wins), "overridden", "registered"
    shown: str  # the value as it may be displayed (masked for secrets)
    source: str


@dataclass(repr=False)
class EnvResult(Rendered):
    files_read: list[str] = field(default_factory=list)
    files_missing: list[str] = field(default_factory=list)
    keys: list[EnvKey] = field(default_factory=list)
    certificates: AddResult | None = None
    override: bool = False

    def _headline(self) -> str:
        if not self.files_read:
            return "No env file found (looked for " + ", ".join(map(shown_path, self.files_missing)) + ")"
        return "✓ Read " + ", ".join(map(shown_path, self.files_read))

    def _rows(self) -> list[list[str]]:
        return [[k.name, k.action, k.shown, shown_path(k.source) if k.source else ""] for k in self.keys]

    def _notes(self) -> list[str]:
        out = []
        if self.files_read and self.files_missing:
            out.append("not found (skipped): " + ", ".join(map(shown_path, self.files_missing)))
        if any(k.action == "kept" for k in self.keys):
            out.append("'kept': already set in the kernel; use --override to take the file's value")
        return out

    def __str__(self) -> str:
        lines = [self._headline()]
        if self.keys:
            lines.append(text_table(["key", "action", "value", "from"], self._rows(), "  "))
        lines += [f"  {visible(n)}" for n in self._notes()]
        if self.certificates is not None:
            lines.append(str(self.certificates))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        html = html_table(["key", "action", "value", "from"], self._rows(), title=self._headline(), notes=self._notes())
        if self.certificates is not None:
            html += self.certificates._repr_html_()
        return html
