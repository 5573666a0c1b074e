"""Which proxy a client would use for a URL, decided exactly as requests decides it.

The environment is read with requests' own functions (`get_environ_proxies`,
`select_proxy`, `should_bypass_proxies`): ``HTTPS_PROXY``/``https_proxy``,
``ALL_PROXY``, and ``NO_PROXY`` with suffixes, ports, ``*`` and CIDR blocks —
no matcher of our own that could disagree with the client we speak for.

Credentials are taken out of the URL here, at the edge, as httpx's `Proxy`
does: a `Proxy` keeps the ``Proxy-Authorization`` header value to send to the
proxy (and only to it) and shows itself as ``http://***@host:port``; nothing
downstream sees the password.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from .._secrets import strip_userinfo
from ..errors import UrlError

__all__ = ["Proxy", "Route", "choose_route", "host_port", "no_proxy_entries"]


@dataclass(frozen=True)
class Proxy:
    """An http:// or https:// proxy: where to connect, what to show, what to send it."""

    scheme: str
    host: str
    port: int
    shown: str
    #: the ``Proxy-Authorization`` value for credentials in the URL; never shown
    authorization: str | None = field(default=None, repr=False)
    #: the password, so that anything echoing it can be redacted
    password: str | None = field(default=None, repr=False)
    #: the URL as given, credentials included: only for handing to requests (AIA fetches)
    url: str = field(default="", repr=False)

    @classmethod
    def parse(cls, url: str) -> Proxy:
        """Check and split a proxy URL; `UrlError` (with the URL shown without credentials) if unusable."""
        text = url.strip()
        if "://" not in text:
            text = "http://" + text  # as requests and curl read "proxy.corp:3128"
        shown = strip_userinfo(text)
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError:
            raise UrlError(f"proxy {shown}: the port must be a number from 1 to 65535") from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise UrlError(
                f"proxy {shown}: unsupported scheme {scheme!r}; test and fetch use http:// or https:// proxies"
            )
        if not parts.hostname:
            raise UrlError(f"proxy {shown}: no host name in the proxy URL")
        if port is None:
            port = 443 if scheme == "https" else 80
        if not 1 <= port <= 65535:
            raise UrlError(f"proxy {shown}: the port must be a number from 1 to 65535")
        authorization = password = None
        if parts.username is not None:
            password = unquote(parts.password or "")
            pair = f"{unquote(parts.username)}:{password}".encode()
            authorization = "Basic " + base64.b64encode(pair).decode("ascii")
        host = parts.hostname
        display = f"{scheme}://{'***@' if parts.username is not None else ''}{host_port(host, port)}"
        return cls(scheme, host, port, display, authorization, password or None, text)

    def __str__(self) -> str:
        return self.shown


def host_port(host: str, port: int) -> str:
    """host:port, an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True)
class Route:
    """How a connection to the URL goes: through `proxy`, or direct, and why."""

    proxy: Proxy | None
    why: str

    def __repr__(self) -> str:
        return f"Route({self.why})"

    def __str__(self) -> str:
        return self.why


def no_proxy_entries() -> list[str]:
    """NO_PROXY's entries as requests reads them (the lower-case name first, spaces dropped)."""
    value = os.environ.get("no_proxy") or os.environ.get("NO_PROXY") or ""
    return [e for e in value.replace(" ", "").split(",") if e]


def _matching_no_proxy_entry(url: str) -> str | None:
    """The NO_PROXY entry that makes requests bypass proxies for `url`, found with requests' matcher."""
    from requests.utils import should_bypass_proxies

    for entry in no_proxy_entries():
        if should_bypass_proxies(url, no_proxy=entry):
            return entry
    return None


def choose_route(url: str, proxy: str | None = None) -> Route:
    """The route requests would take to `url`; `proxy` overrides it ("" means direct).

    `url` is an https URL already checked by `Target.parse`.
    """
    if proxy is not None:
        if not proxy.strip():
            return Route(None, "direct (asked for: --direct)")
        chosen = Proxy.parse(proxy)
        return Route(chosen, f"via proxy {chosen.shown} (asked for: --proxy)")
    from requests.utils import get_environ_proxies, select_proxy, should_bypass_proxies

    if should_bypass_proxies(url, no_proxy=None):
        entry = _matching_no_proxy_entry(url)
        if entry is not None:
            return Route(None, f"direct (NO_PROXY matched {entry!r})")
        return Route(None, "direct (the system's proxy bypass list matched)")
    from_env = select_proxy(url, get_environ_proxies(url))
    if not from_env:
        return Route(None, "direct (no proxy configured)")
    chosen = Proxy.parse(from_env)
    return Route(chosen, f"via proxy {chosen.shown} (from the environment, as requests would)")
