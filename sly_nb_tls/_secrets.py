"""Secrets: which values must never be shown, and how to take them out of any text.

Two nets, both always cast (by `redact`):

1. **Known values**: the value of every secret-looking variable (`*TOKEN*`,
   `*KEY*`, `*SECRET*`, `*PASS*`, …), every password found in a URL or a
   connection string in the environment, and any value the caller adds (a
   token passed as an argument).  These are caught wherever they appear, e.g.
   echoed back in a server's error page.
2. **Shapes**, whatever the variable is called: the userinfo of any URL
   (``scheme://user:password@host``), ``password=…``-style fields of DSNs and
   connection strings, and the values of ``Authorization``,
   ``Proxy-Authorization`` and ``x-api-key`` headers.

Redact first, then cut: a secret cut in half by a length limit would no
longer match, and its first half would be shown.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import unquote

__all__ = ["basic_credential", "is_secret_key", "redact", "secret_values", "strip_userinfo"]

MASK = "***"
_SECRET_KEY = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|PASS|CREDENTIAL|AUTH", re.IGNORECASE)
#: scheme://USERINFO@ — the userinfo may hold a password or be a token itself.  Up to the last
#: "@" before white space: a password may hold "/" or "?" (unescaped, as users type them), and
#: hiding a path that holds an "@" too is the safe mistake.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^\s]+)@")
#: USER:PASSWORD@host without a scheme, as requests and curl accept in HTTPS_PROXY
#: ("alice:pw@proxy.corp:3128", ":pw@proxy").  It starts a value or follows a separator, holds a
#: colon before the "@", and its password runs to the last "@" before the host (a password may
#: hold "@" or quotes), so that e-mail addresses and git's "git@host:repo" stay shown.
_BARE_USERINFO = re.compile(r"(?<![^\s=,;\"'(<|])(?P<userinfo>[^\s:/@\"'<>=|]*:(?!//)\S*)@(?=[^\s@/]+)")
#: key=value fields of DSNs and connection strings (libpq, ADO.NET, JDBC, ODBC).
_DSN_FIELD = re.compile(
    r"(?P<key>\b(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|secret[_-]?key)\s*=\s*)"
    r"(?P<value>\"[^\"]*\"|'[^']*'|[^\s;&,]+)",
    re.IGNORECASE,
)
#: -Dsome.password=value in JVM options (JAVA_TOOL_OPTIONS): trustStorePassword, keyStorePassword...
_JVM_OPTION = re.compile(
    r"(?P<key>-D[\w.$-]*?(?:password|passwd|pwd|secret|token)[\w.$-]*=)(?P<value>\"[^\"]*\"|'[^']*'|\S+)",
    re.IGNORECASE,
)
#: header: value — the whole value (a scheme like "Bearer" is part of it).
_HEADER = re.compile(
    r"(?P<key>\b(?:proxy-authorization|authorization|x-api-key)\s*[:=]\s*)(?P<value>[^\r\n,;]+)",
    re.IGNORECASE,
)
_MIN_SECRET = 4  # shorter values ("1", "yes") would blank out ordinary words


def is_secret_key(name: str) -> bool:
    """Keys whose values are never shown (API_TOKEN, *_KEY, *SECRET*, *PASS*...)."""
    return bool(_SECRET_KEY.search(name))


def _embedded_secrets(value: str) -> list[str]:
    """Passwords inside a URL's userinfo (with or without a scheme) or a connection string's fields.

    With a password goes the ``Basic`` credential made of it: a proxy that echoes the
    ``Proxy-Authorization`` it got (in a 407's reason, say) shows that, not the password.
    """
    found = []
    for userinfo in [m.group("userinfo") for m in _URL_USERINFO.finditer(value)] + [
        m.group("userinfo") for m in _BARE_USERINFO.finditer(value)
    ]:
        found.append(userinfo)
        if ":" in userinfo:
            found.append(userinfo.split(":", 1)[1])
            found.append(basic_credential(userinfo))
    for m in (*_DSN_FIELD.finditer(value), *_JVM_OPTION.finditer(value)):
        found.append(m.group("value").strip("\"'"))
    return found


def secret_values(environ: Mapping[str, str] | None = None, extra: Iterable[str | None] = ()) -> list[str]:
    """Every value that must never appear in output, longest first.

    Secret-looking variables' values, the passwords embedded in any variable's
    URL or connection string, and `extra` (a token given as an argument).
    """
    env = os.environ if environ is None else environ
    values: list[str] = []
    for key, value in env.items():
        if not value:
            continue
        if is_secret_key(key):
            values.append(value)
        values.extend(_embedded_secrets(value))
    values.extend(v for v in extra if v)
    return sorted({v for v in values if len(v) >= _MIN_SECRET}, key=len, reverse=True)


def basic_credential(userinfo: str) -> str:
    """The base64 part of the ``Basic`` header a client sends for ``user:password`` in a URL."""
    user, _, password = userinfo.partition(":")
    return base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode("ascii")


def strip_userinfo(url: str) -> str:
    """`url` with any user name and password replaced by ``***`` (``http://***@host:port``),
    scheme or not (``alice:pw@proxy:3128`` becomes ``***@proxy:3128``)."""
    url = _URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", url)
    return _BARE_USERINFO.sub(f"{MASK}@", url)


def redact(text: str, secrets: Sequence[str]) -> str:
    """`text` with known `secrets` and every secret-shaped part replaced by ``***``.

    Call it on the whole text, before any truncation.
    """
    for secret in secrets:
        text = text.replace(secret, MASK)
    text = strip_userinfo(text)
    text = _DSN_FIELD.sub(lambda m: m.group("key") + MASK, text)
    text = _JVM_OPTION.sub(lambda m: m.group("key") + MASK, text)
    return _HEADER.sub(lambda m: m.group("key") + MASK, text)
