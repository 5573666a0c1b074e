"""What a test is aimed at: an https URL, checked and split (`Target`), from the argument or SERVER_ADDRESS."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from .._fixes import command, say
from .._render import visible
from .._secrets import strip_userinfo
from ..errors import UrlError

__all__ = ["Target"]


@dataclass
class Target:
    """An https URL that can be tested: scheme, host and port checked."""

    text: str
    host: str
    port: int
    base_path: str

    @classmethod
    def parse(cls, url: str | None) -> Target:
        """`url`, or SERVER_ADDRESS; no scheme means https.  Raises `UrlError`."""
        if url is None or not str(url).strip():
            url = os.environ.get("SERVER_ADDRESS", "")
            if not url.strip():
                raise UrlError(
                    f"no URL given and SERVER_ADDRESS is not set: pass one ({say(command('test', 'https://host'))}) "
                    f"or load your env file first ({say(command('env'))})"
                )
        text = str(url).strip()
        shown = visible(strip_userinfo(text))  # what any message may echo: never credentials
        if "://" not in text:
            text = "https://" + text
        if "@" in text.split("://", 1)[1].split("/", 1)[0]:
            # Checked before anything echoes the URL back: the credentials must not be shown.
            raise UrlError("put credentials in API_TOKEN, not in the URL; the URL was not used")
        if any(c.isspace() for c in text):
            raise UrlError(f"{shown!r}: a URL cannot contain spaces")
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018 - checks the host too: "[::1" and "[zz]" raise here
        except ValueError as exc:
            if "port" in str(exc).lower():
                raise UrlError(f"{shown}: the port must be a number from 1 to 65535") from None
            raise UrlError(f"{shown}: not a valid URL ({exc})") from None
        if parts.scheme.lower() != "https":
            raise UrlError(
                f"{shown}: unsupported scheme {parts.scheme!r}; only https:// URLs use TLS"
                + (" (plain http needs no certificates)" if parts.scheme.lower() == "http" else "")
            )
        try:
            port = parts.port if parts.port is not None else 443  # not `or`: port 0 must be rejected
        except ValueError:
            raise UrlError(f"{shown}: the port must be a number from 1 to 65535") from None
        if not 1 <= port <= 65535:
            raise UrlError(f"{shown}: the port must be a number from 1 to 65535")
        host = parts.hostname or ""
        if not host:
            raise UrlError(f"{shown}: no host name in the URL")
        if "[" in parts.netloc:  # Python 3.10's urlsplit does not check a bracketed host; 3.11+ does
            try:
                ipaddress.IPv6Address(host.split("%", 1)[0])
            except ValueError:
                raise UrlError(f"{shown}: not a valid URL ({host!r} in brackets is not an IPv6 address)") from None
        base = parts.path.rstrip("/")
        return cls(f"https://{parts.netloc}{base}", host, port, base)
