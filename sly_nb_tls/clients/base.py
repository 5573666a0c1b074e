"""The contract each HTTPS client family implements, and the CA sets its rules are made of.

A family is one module in this folder with a module-level ``FAMILY``.  Every
field is data or a small function, so the trust half (`sly_nb_tls.trust`) and
the diagnosis half (`sly_nb_tls.diagnose`) loop over the families and know no
client by name:

- `variables`: the CA variables its readers read, each with its base (what
  they trust when it is unset) -- `add` points each at base + extras;
- `rows`: what it trusts right now (`status --clients`);
- `attempts`: one request against a URL under a deadline (`test --clients`);
- live targets: shared contexts to swap, cached ones to drop, CA paths to
  repoint, the opener urllib caches -- with every private attribute name as
  data; only `trust.live` reads or writes them.

A new client is one new module here plus its rows in the client matrix.
"""

from __future__ import annotations

import hashlib
import os
import ssl
from collections.abc import Callable, Iterable, Mapping, Set
from dataclasses import dataclass, field
from typing import Any

from .._pem import certificate_blocks
from .._readfile import NotReadable, read_regular_file

__all__ = [
    "Answer",
    "Attempt",
    "CaPath",
    "CaSet",
    "CaVariable",
    "CachedContext",
    "CachedOpener",
    "ClientTrust",
    "Family",
    "KnownFailure",
    "OwnRoots",
    "Request",
    "RootsDefault",
    "RunningJvm",
    "SharedContext",
    "TrustView",
    "certifi_set",
    "config_text",
    "ini_value",
    "openssl_set",
]

_MAX_BASE_FILE = 64 * 1024 * 1024
_MAX_CONFIG_FILE = 1024 * 1024


# -- CA sets -------------------------------------------------------------------------------
@dataclass
class CaSet:
    """What one variable's readers trusted before any change, as de-duplicated PEM blocks."""

    label: str
    files: list[str] = field(default_factory=list)
    blocks: dict[str, bytes] = field(default_factory=dict)
    #: for a config-file variable (WGETRC): the user's own lines, without the CA line ours replaces
    config: str | None = None
    #: for a config-file variable: the user's own file as it was (what `reset` writes back)
    original_config: str | None = None
    #: files of the set that could not be read: its readers could not read them either
    problems: list[str] = field(default_factory=list)

    @classmethod
    def of_files(cls, label: str, *paths: str, exclude: Set[str] = frozenset()) -> CaSet:
        ca_set = cls(label)
        for path in paths:
            ca_set.add_path(path, exclude)
        return ca_set

    @property
    def key(self) -> str:
        """Names the bundle file: sets with equal content share one file."""
        if not self.blocks:
            return "extras"
        return hashlib.sha256("".join(sorted(self.blocks)).encode()).hexdigest()[:10]

    def add_path(self, candidate: str, exclude: Set[str] = frozenset()) -> bool:
        """Fold a file (or a directory of PEM files) into the set; False if unreadable.

        Certificates whose fingerprint is in `exclude` are left out: a bundle that
        someone built from ours holds our extras, and those must stay removable.
        """
        path = os.path.realpath(candidate)
        if path in self.files:
            return True
        if os.path.isdir(path):
            try:
                names = [os.path.join(path, n) for n in sorted(os.listdir(path))]
            except OSError:
                self.problems.append(f"{candidate}: cannot list it")
                return False
            files = [n for n in names if os.path.isfile(n)]
        elif os.path.isfile(path):
            files = [path]
        else:
            return False
        for name in files:
            if not os.access(name, os.R_OK):
                self.problems.append(f"{name}: not readable")
                continue
            for sha, block in _file_blocks(name):
                if sha not in exclude:
                    self.blocks.setdefault(sha, block)
        self.files.append(path)
        return True

    def content(self) -> bytes:
        return b"".join(self.blocks.values())

    def merged_with(self, extras: Iterable[tuple[str, bytes]], dropping: Iterable[str] = ()) -> dict[str, bytes]:
        """The base's blocks plus the extras; without those in `dropping` (roots an extra stands in for:
        OpenSSL picks between two anchors of one name in its own order, so only the extra may remain)."""
        blocks = dict(self.blocks)
        for sha in dropping:
            blocks.pop(sha, None)
        for sha, block in extras:
            blocks.setdefault(sha, block)
        return blocks


#: (real path, mtime, size) -> its certificate blocks: certifi's and OpenSSL's files are the base of
#: several variables, and parsing one costs milliseconds (kernel start-up adds them all at once).
_PARSED: dict[tuple[str, int, int], list[tuple[str, bytes]]] = {}


def _file_blocks(name: str) -> list[tuple[str, bytes]]:
    try:
        st = os.stat(name)
    except OSError:
        return []
    key = (name, st.st_mtime_ns, st.st_size)
    if key not in _PARSED:
        try:
            # A variable may name a FIFO or /dev/zero: read only a regular file, and only so much.
            data = read_regular_file(name, _MAX_BASE_FILE)
        except NotReadable:
            return []
        if len(_PARSED) > 64:
            _PARSED.clear()
        _PARSED[key] = certificate_blocks(data)
    return _PARSED[key]


def config_text(path: str) -> str | None:
    """A tool's small config file (gitconfig, npmrc, wgetrc) as text; None if it is no readable regular file."""
    try:
        return read_regular_file(path, _MAX_CONFIG_FILE).decode("utf-8", "replace")
    except NotReadable:
        return None


def ini_value(path: str, key: str) -> str | None:
    """`key = value` from an ini-like config file (npmrc, wgetrc); None if absent."""
    text = config_text(path)
    if text is None:
        return None
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip().lower() == key:
            return value.strip().strip("\"'") or None
    return None


def certifi_set(original: Mapping[str, str | None] | None = None) -> CaSet:
    """certifi's bundle: what requests, httpx and botocore trust by default."""
    import certifi

    return CaSet.of_files("certifi", certifi.where())


def openssl_set(original: Mapping[str, str | None] | None = None) -> CaSet:
    """OpenSSL's default file: what the ssl module, curl and git trust by default."""
    # openssl_cafile, not cafile: the latter follows SSL_CERT_FILE, which may be ours by now.
    return CaSet.of_files("OpenSSL's default file", ssl.get_default_verify_paths().openssl_cafile)


def additive_set(original: Mapping[str, str | None] | None = None) -> CaSet:
    """An additive variable's readers keep their own roots: its file holds the extras alone."""
    return CaSet("nothing (additive)")


# -- the contract ----------------------------------------------------------------------------
@dataclass(frozen=True)
class CaVariable:
    """One variable some client reads its trust from."""

    name: str
    #: who reads it (shown in `status`)
    readers: str
    #: what its readers trust when it is unset, from the variables' values before `add`;
    #: None: leave the variable alone (its readers are not here, or need nothing)
    base: Callable[[Mapping[str, str | None]], CaSet | None]
    #: readers add the file to their own roots instead of replacing them
    additive: bool = False
    #: it names a configuration file, not a PEM file: `config` builds ours from the set
    config: Callable[[str, str], bytes] | None = None
    #: in-process clients read it: a context loaded from its preset file trusts "the defaults"
    in_process: bool = False
    #: its readers need another format than PEM (the JVM's PKCS#12): the file's bytes from the blocks;
    #: `keep`: also store them where a later process's start looks first (`install` prepares it so)
    encode: Callable[[Mapping[str, bytes], bool], bytes] | None = None
    #: its value is not the file's path (JAVA_TOOL_OPTIONS: options naming the file): the value from
    #: the one before `add` and the file's path.  Its base reads that earlier value itself.
    value: Callable[[str | None, str], str] | None = None


@dataclass(frozen=True)
class TrustView:
    """What a family's `rows` may look at: the files `add` wrote, whether hooks are on, the extras."""

    ours: frozenset[str] = frozenset()
    hooked: bool = False
    extras: frozenset[str] = frozenset()
    #: something in this process made urllib's default context unverified
    urllib_unverified: bool = False
    #: running JVMs (`RunningJvm.label`) -> whether they trust the extras (given them live, or started
    #: on the truststore)
    jvms: Mapping[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class ClientTrust:
    """One HTTPS library importable here and the trust it will use right now (`status --clients`)."""

    client: str
    trust: str
    #: True: sees the extras; False: will not (see `why`); None: not loaded/used here
    sees_extras: bool | None
    why: str = ""

    def row(self) -> list[str]:
        mark = {True: "✓ yes", False: "✗ no", None: "–"}[self.sees_extras]
        return [self.client, self.trust, f"{mark}{': ' + self.why if self.why else ''}"]


@dataclass(frozen=True)
class SharedContext:
    """A context a library builds once and shares: swapped for one holding the extras, and back."""

    label: str
    module: str
    attr: str
    #: builds what the library would build now (the hooks add the extras; `live` checks)
    build: Callable[[], ssl.SSLContext]
    #: the library's own builder, if it has one: (attribute of `module`, its arguments)
    builder: tuple[str, tuple[Any, ...]] | None = None


@dataclass(frozen=True)
class CachedContext:
    """A library caches "the defaults" in an ``lru_cache``: dropped at `add` and at `reset`."""

    label: str
    module: str
    attr: str


@dataclass(frozen=True)
class CaPath:
    """A CA path a live object fixed before `add`: repointed at its variable's bundle, and back."""

    label: str
    #: the live objects that hold the path (a module, or instances found by class)
    owners: Callable[[], list[object]]
    attr: str
    variable: str
    #: the value that means "certifi, looked up at each request" (botocore's ``True``)
    certifi_marker: object = None


@dataclass(frozen=True)
class CachedOpener:
    """urllib caches the opener `urlopen` builds; on 3.12+ its HTTPS handler holds one context."""

    module: str
    attr: str
    #: the handler's attributes: its context, and the check_hostname it was given
    context_attr: str
    check_hostname_attr: str


@dataclass(frozen=True)
class OwnRoots:
    """A client that reads a variable we point at a bundle but trusted other roots before:
    contexts built for `callers` get `roots(original)` (cafile, capath) plus the extras."""

    variable: str
    callers: tuple[str, ...]
    roots: Callable[[Mapping[str, str | None]], tuple[str | None, str | None] | None]


@dataclass(frozen=True)
class RootsDefault:
    """A library function that uses roots of its own, read once per process, when it is given none
    (gRPC's ``ssl_channel_credentials()``): wrapped at `add` so such a call gets `variable`'s bundle,
    its readers' roots plus the extras, and put back at `reset`.  Roots passed explicitly are left alone."""

    label: str
    module: str
    attr: str
    #: the roots argument: its name, and its position when passed positionally
    argument: str
    position: int
    variable: str


@dataclass(frozen=True)
class RunningJvm:
    """A JVM this process drives through a gateway (PySpark's driver, over py4j).  It fixed its trust
    when it started, and stopping the session does not stop it, so `add` gives it a default SSL
    context of the roots it trusts by its own configuration plus the extras, and `reset` puts its
    own back."""

    label: str
    #: where the gateway's view of the JVM lives: ``getattr(module.owner, attr)``, None while none runs
    module: str
    owner: str
    attr: str
    #: the variable whose truststore a JVM started after `add` names (it trusts the extras already)
    variable: str


@dataclass(frozen=True)
class Request:
    """One request of `test --clients`: ``POST users.me`` with the token, or ``GET /`` without."""

    method: str
    url: str
    #: the API token among them: never in a repr (a traceback, a log line)
    headers: Mapping[str, str] = field(repr=False)
    body: bytes | None = None
    #: the server's URL as the user gave it (scheme, host, port, base path), and its host
    server: str = ""
    host: str = ""


class Answer:
    """What a client got back, whatever the client."""

    def __init__(self, status: int, body: bytes = b"", reason: str = "", content_type: str = "", location: str = ""):
        self.status, self.body, self.reason = status, body, reason
        self.content_type, self.location = content_type, location


class KnownFailure(Exception):
    """A failure the client already classified (by curl's exit code, or inside a child process)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Attempt:
    """One request, as a user makes it with this client, for `test --clients`."""

    name: str
    call: Callable[[Request, float], Answer]
    #: the module it needs (None: the standard library)
    module: str | None = None
    #: the tool it runs, which must be on PATH
    tool: str | None = None
    needs_token: bool = False
    #: how it picks a proxy: "requests" (requests' rules), "curl" (HTTPS_PROXY, NO_PROXY without
    #: CIDR), "no-cidr" (requests' rules minus NO_PROXY's CIDR entries), "none" (reads no variables),
    #: "own" (rules of its own, not checked here)
    proxy: str = "requests"
    #: whose trust it reads: "requests" (REQUESTS_CA_BUNDLE/certifi), "openssl" (SSL_CERT_FILE) or
    #: "java" (the JVM's truststore)
    reads: str = "requests"
    #: why it reads no proxy variables, as called here (for the notes on disagreements)
    ignores_proxy_because: str = ""
    #: it starts a process (the SDK imports itself in a child): it runs after the others, which
    #: share the test's deadline with it
    slow: bool = False
    #: it cannot send the API request, nor always say what the server answered (uv asks for a package
    #: index page, polars and pyarrow for an S3 object): judged on its connection and trust alone
    tls_only: bool = False


@dataclass(frozen=True)
class Family:
    """One HTTPS client family: its variables, its rows, its attempts, its live targets."""

    name: str
    #: families are listed (status, test) in this order: the SDK's own client first
    order: int
    variables: tuple[CaVariable, ...] = ()
    rows: Callable[[TrustView], list[ClientTrust]] = lambda view: []
    attempts: tuple[Attempt, ...] = ()
    shared_contexts: tuple[SharedContext, ...] = ()
    cached_contexts: tuple[CachedContext, ...] = ()
    ca_paths: tuple[CaPath, ...] = ()
    cached_opener: CachedOpener | None = None
    own_roots: OwnRoots | None = None
    roots_defaults: tuple[RootsDefault, ...] = ()
    running_jvms: tuple[RunningJvm, ...] = ()
    #: other variables that change what its clients trust, read and never set (JAVA_HOME): the
    #: suite and the notebooks set or clear each one
    also_reads: tuple[str, ...] = ()
    #: transport package -> the client users know it as (a context held by httpcore is httpx's)
    transports: Mapping[str, str] = field(default_factory=dict)
    #: files and directories a context may load and still trust "the defaults" (certifi, OpenSSL's)
    default_stores: Callable[[], list[str]] = lambda: []
    #: the CA sets those default stores hold, to tell a default-store context from a pinned one
    default_sets: Callable[[], list[CaSet]] = lambda: []


def importable(name: str) -> bool:
    """Is `name` importable here, without importing it?"""
    import importlib.util
    import sys

    if name in sys.modules:
        return True
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def by_variable(client: str, view: TrustView, *variables: str, default: str, env: Any = None) -> ClientTrust:
    """The row of a client that reads its trust from the first set one of `variables`."""
    env = os.environ if env is None else env
    for var in variables:
        value = env.get(var)
        if value:
            shown = f"{var}: {os.path.basename(value) if value in view.ours else value}"
            if value in view.ours:
                return ClientTrust(client, shown, True)
            return ClientTrust(client, shown, False, "names a file of its own")
    return ClientTrust(client, default, False, "nothing added" if not view.ours else f"{variables[0]} is unset")
