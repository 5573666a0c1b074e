"""Complete a chain the server sent without its root: on this machine first, then through AIA.

Browsers and Windows complete chains by following the Authority Information
Access extension; Python and curl do not, and requests never sees the roots
IT installed in the system store (it reads certifi).  So when the presented
chain does not end in a self-signed root, the issuer of its top certificate is
looked for, one link at a time, in this order:

1. the presented chain;
2. this machine's stores: OpenSSL's default file and hashed directory
   (``SSL_CERT_FILE``/``SSL_CERT_DIR`` honoured), certifi, the files the CA
   variables named before `add`, conda's bundle, the macOS keychains, the
   Windows ROOT and CA stores;
3. the ``caIssuers`` URLs of the AIA extension: ``http://`` and ``https://``
   (with the current trust), through the same proxy as the connection, DER,
   PEM or PKCS#7, at most 64 KiB per answer and 5 fetches, within the test's
   deadline; ``ldap://`` URLs are reported, not fetched.

A candidate is the issuer when its subject is the child's issuer, its Subject
Key Identifier matches the child's Authority Key Identifier where both are
there, and `cryptography` verifies the child's signature with its key.  What
is found is evidence for the report and for ``fetch --save``: it never becomes
a trust anchor by itself.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .._bounded import capped
from .._certs import Certificate, load_der_certificate
from .._pem import certificate_blocks, certificate_ders
from .._readfile import NotReadable, read_regular_file
from ..clients.requests import ca_file_now
from ..clients.stores import HASHED_NAME, keychain_certificates, store_sources, windows_certificates

__all__ = ["NO_FILES", "Completion", "KnownFiles", "complete_chain", "known_files", "tell_known_files"]

MAX_AIA_BYTES = 64 * 1024
MAX_AIA_FETCHES = 5
MAX_DEPTH = 8
_MAX_STORE_FILE = 64 * 1024 * 1024


@dataclass
class Completion:
    """The path from the leaf up, each certificate with its `.source`, and what could not be found."""

    path: list[Certificate] = field(default_factory=list)
    #: the certificates that were not presented (found on this machine or fetched)
    completed: list[Certificate] = field(default_factory=list)
    #: the issuer name that was looked for and not found, if the path stops short of a root
    missing: str | None = None
    missing_aki: str = ""
    #: what was searched, for the advice when nothing was found
    searched: list[str] = field(default_factory=list)
    #: AIA URLs that could not be used, with why (ldap, too large, 404, timed out, …)
    aia_problems: list[str] = field(default_factory=list)
    #: the AIA fetches made (each one round trip)
    fetches: int = 0
    #: fingerprints the failing client (requests) trusts, to mark each link
    trusted: frozenset[str] = frozenset()

    @property
    def root(self) -> Certificate | None:
        top = self.path[-1] if self.path else None
        return top if top is not None and top.self_signed else None

    def is_trusted(self, cert: Certificate) -> bool:
        return cert.sha256 in self.trusted

    def links(self) -> list[tuple[Certificate, str, bool]]:
        """(certificate, how it was obtained, trusted by requests) from the leaf up."""
        return [(c, _how(c.source), self.is_trusted(c)) for c in self.path]

    def picture(self) -> str:
        """The path as one line: leaf → … → root, each link's source and trust."""
        from .._render import shown_path

        parts = [
            f"{c.common_name} [{shown_path(c.source) if c.source.startswith('/') else c.source}"
            f"{'; trusted' if trusted else ''}]"
            for c, _, trusted in self.links()
        ]
        if self.missing is not None:
            parts.append(f"{self.missing} [missing]")
        return " → ".join(parts)


def _how(source: str) -> str:
    if source == "presented":
        return "presented"
    if source.startswith("aia:"):
        return "fetched"
    return "found"


def _read(path: str) -> bytes:
    try:
        return read_regular_file(path, _MAX_STORE_FILE)  # a store entry may be a FIFO or a device
    except NotReadable:
        return b""


_INDEX_CACHE: dict[tuple[tuple[str, float], ...], dict[str, list[tuple[bytes, str]]]] = {}


def _store_index(sources: list[tuple[str, str]]) -> dict[str, list[tuple[bytes, str]]]:
    """issuer-lookup index: subject (RFC 4514) -> [(DER, source)], cached while the files are unchanged."""
    stamp = tuple((p, os.stat(p).st_mtime) for p, _ in sources if os.path.exists(p))
    cached = _INDEX_CACHE.get(stamp)
    if cached is not None:
        return cached
    ders: list[tuple[bytes, str]] = []
    for path, label in sources:
        if os.path.isdir(path):
            for name in sorted(os.listdir(path)):
                if HASHED_NAME.match(name):
                    ders += [
                        (der, f"dir:{os.path.join(path, name)}")
                        for der in certificate_ders(_read(os.path.join(path, name)))
                    ]
        else:
            ders += [(der, label) for der in certificate_ders(_read(path))]
    if sys.platform == "darwin":
        ders += keychain_certificates()
    elif sys.platform == "win32":
        ders += windows_certificates()
    index: dict[str, list[tuple[bytes, str]]] = {}
    seen: set[bytes] = set()
    for der, label in ders:
        if der in seen:
            continue
        seen.add(der)
        try:
            subject = load_der_certificate(der).subject.rfc4514_string()
        except ValueError:
            continue
        index.setdefault(subject, []).append((der, label))
    _INDEX_CACHE.clear()  # one machine state at a time
    _INDEX_CACHE[stamp] = index
    return index


# -- links ------------------------------------------------------------------------------------
def issued(child: Certificate, parent: Certificate) -> bool:
    """Is `parent` the issuer of `child`: names, key identifiers, and the signature itself."""
    if child.issuer != parent.subject:
        return False
    if child.aki and parent.ski and child.aki != parent.ski:
        return False
    try:
        load_der_certificate(child.der).verify_directly_issued_by(load_der_certificate(parent.der))
    except Exception:  # noqa: BLE001 - any failure (signature, algorithm, names) means "not its issuer"
        return False
    return True


def _with_source(cert: Certificate, source: str) -> Certificate:
    return dataclasses.replace(cert, source=source)


def _from_der(der: bytes, source: str) -> Certificate | None:
    try:
        return Certificate.from_x509(load_der_certificate(der), source)
    except ValueError:
        return None


# -- AIA ---------------------------------------------------------------------------------------
#: Cloud metadata services outside the link-local range (AWS IPv6, Alibaba): never fetched from.
_METADATA = {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}


def address_kind(address: str) -> str:
    """ "never" (link-local, unspecified, multicast, cloud metadata), "loopback", "private" or "public"."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "never"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:  # before is_reserved: ::1 lies in the reserved ::/8
        return "loopback"
    if ip.is_link_local or ip.is_unspecified or ip.is_multicast or ip.is_reserved or ip in _METADATA:
        return "never"
    return "private" if ip.is_private or not ip.is_global else "public"


#: AIA rule: which kinds of address a fetch may reach, by the kind of the server being tested.  A
#: certificate names its own caIssuers URLs, so a hostile server could otherwise make the kernel send
#: GETs to services only it can reach (blind SSRF); a CA's real AIA host is as public as its server.
_MAY_FETCH = {
    "loopback": {"loopback", "private", "public"},
    "private": {"private", "public"},
    "public": {"public"},
    "never": {"public"},
    # a server that does not resolve here (reached through a proxy): as a public one
    "unknown": {"public"},
}


class _AiaFetcher:
    """Fetches `caIssuers` URLs within the bounds, through the connection's proxy."""

    def __init__(self, proxy_url: str | None, left: Callable[[], float], origin: str = ""):
        self.proxy_url = proxy_url
        self.left = left
        #: the tested server's address (or host name): what it may make us fetch from
        self.origin = origin
        self._origin_known: str | None = None
        self.fetches = 0
        self.visited: set[str] = set()
        self.problems: list[str] = []

    def certificates(self, url: str) -> list[Certificate]:
        from .._secrets import strip_userinfo

        shown = strip_userinfo(url)
        if url in self.visited:
            return []
        self.visited.add(url)
        scheme = url.split(":", 1)[0].lower()
        if scheme not in ("http", "https"):
            self.problems.append(f"{shown}: {scheme}:// is not fetched (only http and https)")
            return []
        if self.fetches >= MAX_AIA_FETCHES:
            self.problems.append(f"{shown}: not fetched, {MAX_AIA_FETCHES} fetches already made")
            return []
        try:
            refused, pinned = self._refused(url, self.left())
            seconds = self.left()  # the look-ups took some of it
        except TimeoutError:
            self.problems.append(f"{shown}: not fetched, no time left")
            return []
        if refused:
            self.problems.append(f"{shown}: not fetched: {refused}")
            return []
        self.fetches += 1
        data, problem = self._get(url, pinned, seconds)
        if data is None:
            self.problems.append(f"{shown}: {problem}")
            return []
        from .._sources import _parse_bytes
        from ..errors import CertificateSourceError

        try:
            certs, _warnings = _parse_bytes(data, shown)
        except CertificateSourceError as exc:
            self.problems.append(f"{shown}: the answer is no certificate ({exc})")
            return []
        return [_with_source(c, f"aia:{shown}") for c in certs]

    def _refused(self, url: str, seconds: float) -> tuple[str, list[str]]:
        """(why `url`'s host may not be fetched from, by the AIA rule, or ""; the addresses checked).

        The fetch then connects to those very addresses, so a name that resolves elsewhere
        a moment later (DNS rebinding) cannot move it past the check.
        """
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(url)
            host, port = parts.hostname or "", parts.port or _default_port(parts.scheme)
        except ValueError:
            return "not a valid URL", []
        origin_kind = self._origin_kind(port, seconds)
        addresses = self._addresses(host, port, seconds)
        if addresses is None:
            # Through a proxy a name that does not resolve here is the proxy's to resolve: an
            # internal name, so only for a server that is itself internal (or unknown here too).
            if self.proxy_url and origin_kind in ("loopback", "private", "unknown"):
                return "", []
            return f'"{host}" does not resolve here', []
        for address in addresses:
            kind = address_kind(address)
            if kind not in _MAY_FETCH[origin_kind]:
                why = "never fetched from" if kind == "never" else f"the tested server is {origin_kind}"
                return f"{host} is a {kind} address ({address}); {why}", []
        return "", addresses

    def _origin_kind(self, port: int, seconds: float) -> str:
        """The tested server's kind, resolved once per chain (a chain may name several URLs)."""
        if self._origin_known is None:
            origin = self._addresses(self.origin, port, seconds) if self.origin else None
            self._origin_known = _widest(origin) if origin else "unknown"
        return self._origin_known

    @staticmethod
    def _addresses(host: str, port: int, seconds: float) -> list[str] | None:
        from .deadline import Deadline
        from .probe import resolve

        try:
            return [str(info[4][0]) for info in resolve(host, port, Deadline(seconds))]
        except OSError:
            return None

    def _get(self, url: str, pinned: list[str], seconds: float) -> tuple[bytes | None, str]:
        """One GET, bounded as a whole (requests' timeout bounds each read, and a server that
        drips its answer would stretch that): at the deadline its connection is closed.
        (data, "") or (None, what went wrong)."""
        from urllib.parse import urlsplit

        from .._bounded import run_bounded
        from .proxy import Proxy

        ports = {urlsplit(url).port or _default_port(urlsplit(url).scheme)}
        if self.proxy_url:
            ports.add(Proxy.parse(self.proxy_url).port)
        try:
            return run_bounded(lambda: self._get_now(url, pinned, seconds), seconds, "AIA fetch", ports)
        except TimeoutError:
            return None, "timed out"

    def _get_now(self, url: str, pinned: list[str], seconds: float) -> tuple[bytes | None, str]:
        """Each checked address in turn (as a client tries a name's addresses), until one connects."""
        import requests

        answer: tuple[bytes | None, str] = (None, "no address to connect to")
        for address in pinned if pinned and not self.proxy_url else [None]:
            answer = self._get_once(*(_to_address(url, address) if address else (url, {})), seconds)
            if answer[1] != requests.exceptions.ConnectionError.__name__:
                break
        return answer

    def _get_once(self, url: str, headers: dict[str, str], seconds: float) -> tuple[bytes | None, str]:
        import requests

        # As the connection goes: through its proxy, or direct even if HTTPS_PROXY is set
        # (trust_env=False); https:// URLs verified with the trust requests uses now.
        session = requests.Session()
        session.trust_env = False
        proxies = {"http": self.proxy_url, "https": self.proxy_url} if self.proxy_url else {}
        try:
            with session.get(url, timeout=seconds, stream=True, allow_redirects=False, proxies=proxies,
                             headers=headers, verify=ca_file_now()) as r:  # fmt: skip
                if r.status_code != 200:
                    return None, f"HTTP {r.status_code}"
                data = capped(r.iter_content(4096), MAX_AIA_BYTES + 1)
                if len(data) > MAX_AIA_BYTES:
                    return None, f"the answer is over {MAX_AIA_BYTES // 1024} KiB; not read"
                return data, ""
        except requests.exceptions.Timeout:
            return None, "timed out"
        except requests.exceptions.RequestException as exc:
            return None, type(exc).__name__
        finally:
            session.close()


def _default_port(scheme: str) -> int:
    return 443 if scheme.lower() == "https" else 80


def _to_address(url: str, address: str) -> tuple[str, dict[str, str]]:
    """An http:// URL aimed at the address that passed the rule, its name kept in the Host header.
    https:// keeps its name (the certificate check needs it): it is resolved again, the one gap."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.scheme.lower() != "http" or parts.hostname is None:
        return url, {}
    host = f"[{address}]" if ":" in address else address
    netloc = f"{host}:{parts.port}" if parts.port else host
    name = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)), {"Host": name}


def _widest(addresses: list[str]) -> str:
    """The kind of the tested server: loopback, else private, else public."""
    kinds = {address_kind(a) for a in addresses}
    for kind in ("loopback", "private"):
        if kind in kinds:
            return kind
    return "public"


@dataclass(frozen=True)
class KnownFiles:
    """What the trust half knows of the CA files here: those the CA variables named before `add`
    (searched for a missing root: our bundle hides them now), and those it wrote (not a store)."""

    before: tuple[str, ...] = ()
    ours: tuple[str, ...] = ()


NO_FILES = KnownFiles()
#: asked at each completion; the composition root (`sly_nb_tls._api`) plugs in the trust half's answer
_known_files: list[Callable[[], KnownFiles]] = [lambda: NO_FILES]


def tell_known_files(provider: Callable[[], KnownFiles]) -> None:
    """Where `known_files` gets its answer: diagnose never imports trust, so trust's is plugged in."""
    _known_files[0] = provider


def known_files() -> KnownFiles:
    return _known_files[0]()


# -- the search ----------------------------------------------------------------------------------
def requests_trust() -> frozenset[str]:
    """Fingerprints requests trusts right now (REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE / certifi)."""
    bundle = ca_file_now()
    if os.path.isdir(bundle):
        return frozenset(
            sha for name in os.listdir(bundle) for sha, _ in certificate_blocks(_read(os.path.join(bundle, name)))
        )
    return frozenset(sha for sha, _ in certificate_blocks(_read(bundle)))


def complete_chain(
    presented: list[Certificate],
    *,
    proxy_url: str | None = None,
    left: Callable[[], float] = lambda: 10.0,
    before: Iterable[str] = (),
    ours: Iterable[str] = (),
    aia: bool = True,
    origin: str = "",
) -> Completion:
    """Walk from the leaf up to a self-signed root, through `presented`, this machine's stores, then AIA.

    `left()` says how many seconds remain (raising TimeoutError when none do).  `origin` is the
    tested server's address or name: AIA URLs are fetched from loopback only when it is on
    loopback, from private ranges only when it is in one, and never from link-local addresses.
    """
    done = Completion(trusted=requests_trust())
    if not presented:
        return done
    sources = store_sources(before, ours)
    done.searched = ["the presented chain"] + [label for _, label in sources]
    if sys.platform == "darwin":
        done.searched.append("the macOS keychains")
    elif sys.platform == "win32":
        done.searched.append("the Windows ROOT and CA stores")
    fetcher = _AiaFetcher(proxy_url, left, origin)
    index: dict[str, list[tuple[bytes, str]]] | None = None
    path = [_with_source(presented[0], "presented")]
    pool = [_with_source(c, "presented") for c in presented[1:]]
    while not path[-1].self_signed and len(path) < MAX_DEPTH:
        child = path[-1]
        parent = next((c for c in pool if c not in path and issued(child, c)), None)
        if parent is None:
            index = index if index is not None else _store_index(sources)
            for der, label in index.get(child.issuer, []):
                candidate = _from_der(der, label)
                if candidate is not None and candidate not in path and issued(child, candidate):
                    parent = candidate
                    break
        if parent is None and aia:
            for url in child.ca_issuers:
                fetched = [c for c in fetcher.certificates(url) if c not in path and issued(child, c)]
                if fetched:
                    parent = fetched[0]
                    break
        if parent is None:
            looped = any(issued(child, c) for c in path)
            if looped:
                fetcher.problems.append(
                    f'"{child.common_name}" is issued by a certificate already in the path (a loop)'
                )
            done.missing, done.missing_aki = child.issuer_common_name, child.aki
            break
        path.append(parent)
        if parent.source != "presented":
            done.completed.append(parent)
    if aia:
        done.searched.append("AIA caIssuers URLs" if fetcher.visited else "AIA (no caIssuers URL in the chain)")
    done.path, done.fetches, done.aia_problems = path, fetcher.fetches, fetcher.problems
    return done
