"""Text and HTML building blocks shared by every result object.

Everything shown may come from a certificate or a server, so two rules hold
here and nowhere else has to remember them: `visible()` turns control and
bidi-override characters into ``<U+202E>`` markers (a right-to-left override
in a certificate name must not reorder what the user reads), and every HTML
cell goes through `html.escape`.
"""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Iterable, Sequence

__all__ = ["Rendered", "Table", "esc", "html_block", "html_table", "visible"]

_MAX_CELL = 200


class Rendered:
    """Base of every object users see: `__str__` for terminals, `_repr_html_` for notebooks.

    IPython's pretty printer (the terminal, and ``text/plain`` in a notebook)
    shows the text form.  It takes the first class in the MRO that defines
    ``_repr_pretty_`` *or* ``__repr__``, so both live here, and dataclass
    subclasses say ``repr=False``: a generated ``__repr__`` would win.
    """

    def _repr_pretty_(self, p: object, cycle: bool) -> None:
        p.text(str(self))  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self._summary()}>"

    def _summary(self) -> str:
        """One line for `repr` (logs, containers): the first line of the text form."""
        return str(self).splitlines()[0]

    def _repr_html_(self) -> str:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError


def shown_path(path: object) -> str:
    """A path as outputs show it: relative to the working directory when it is under it, else under
    ``~`` when it is in the home directory, else as it is.  Saved notebooks then carry no absolute
    path of the machine that ran them."""
    import os

    text: str = str(os.fspath(path))  # type: ignore[call-overload]
    if not os.path.isabs(text):
        return text
    for base, shown in ((os.getcwd(), ""), (os.path.expanduser("~"), "~")):
        if base and base != os.sep and (text == base or text.startswith(base.rstrip(os.sep) + os.sep)):
            rel = os.path.relpath(text, base)
            if shown:
                return "~" if rel == "." else f"~{os.sep}{rel}"
            return rel
    return text


def visible(text: object, limit: int | None = None) -> str:
    """Make every invisible or reordering character visible; optionally cut long text."""
    s = str(text)
    out = []
    for ch in s:
        cat = unicodedata.category(ch)
        if ch in "\n\t" or cat not in ("Cc", "Cf", "Zl", "Zp"):
            out.append(ch)
        else:
            out.append(f"<U+{ord(ch):04X}>")
    result = "".join(out)
    if limit is not None and len(result) > limit:
        result = result[: limit - 1] + "…"
    return result


def esc(text: object, limit: int | None = None) -> str:
    """`visible()` then HTML-escape (quotes included)."""
    return html.escape(visible(text, limit), quote=True)


class Table:
    """A plain-text table with columns padded to width; cells are made visible."""

    def __init__(self, headers: Sequence[str]):
        self.headers = list(headers)
        self.rows: list[list[str]] = []

    def add(self, row: Iterable[object]) -> None:
        self.rows.append([visible(c, _MAX_CELL).replace("\n", " ") for c in row])

    def render(self, indent: str = "") -> str:
        widths = [len(h) for h in self.headers]
        for row in self.rows:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], len(cell))
        lines = [
            "  ".join(h.ljust(w) for h, w in zip(self.headers, widths, strict=True)).rstrip(),
            "  ".join("-" * w for w in widths),
        ]
        for row in self.rows:
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        return "\n".join(indent + line for line in lines)


def text_table(headers: Sequence[str], rows: Iterable[Iterable[object]], indent: str = "") -> str:
    """`rows` under `headers` as a padded plain-text table, each line indented by `indent`."""
    table = Table(headers)
    for row in rows:
        table.add(row)
    return table.render(indent)


_STYLE = (
    "<style>.sly-nb-tls{font-family:var(--jp-ui-font-family,sans-serif);font-size:13px}"
    ".sly-nb-tls table{border-collapse:collapse;margin:4px 0}"
    ".sly-nb-tls td,.sly-nb-tls th{padding:2px 8px;text-align:left;vertical-align:top;"
    "border-bottom:1px solid #ddd;word-break:break-word;max-width:48em}"
    ".sly-nb-tls .ok{color:#1a7f37;font-weight:600}.sly-nb-tls .bad{color:#cf222e;font-weight:600}"
    ".sly-nb-tls .warn{color:#9a6700}.sly-nb-tls code{font-size:12px}</style>"
)


def html_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    title: str | None = None,
    title_class: str = "",
    warnings: Iterable[str] = (),
    notes: Iterable[str] = (),
) -> str:
    """A whole result as escaped HTML: optional title, a table, warnings, notes."""
    parts = []
    if title is not None:
        parts.append(f'<div class="{html.escape(title_class)}">{esc(title)}</div>')
    body_rows = list(rows)
    if body_rows:
        head = "".join(f"<th>{esc(h)}</th>" for h in headers)
        body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in body_rows)
        parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    parts.extend(_list(warnings, "warn", "⚠ "))
    parts.extend(_list(notes, "", ""))
    return html_block("".join(parts))


def html_block(inner: str) -> str:
    """Wrap already-escaped HTML in the styled container."""
    return f'<div class="sly-nb-tls">{_STYLE}{inner}</div>'


def _list(items: Iterable[str], cls: str, prefix: str) -> list[str]:
    items = list(items)
    if not items:
        return []
    lis = "".join(f'<li class="{cls}">{esc(prefix + i)}</li>' for i in items)
    return [f"<ul>{lis}</ul>"]
