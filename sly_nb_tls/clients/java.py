"""The JVM: JAVA_TOOL_OPTIONS naming a PKCS#12 truststore of the JDK's own roots plus the extras.

A JVM reads no Python variable and no PEM file: it trusts its JDK's ``cacerts``
keystore, or the truststore ``-Djavax.net.ssl.trustStore`` names.  Every JVM
reads JAVA_TOOL_OPTIONS when it starts (java, PySpark's driver, a JDBC tool,
``spark.jars.packages``' resolver), so `add` writes a truststore holding exactly
the JDK's roots plus the extras and appends the three options naming it to the
user's own options, which are kept.  A truststore the user's options named is
the base instead of ``cacerts``.  A JVM already running keeps its trust.

Reading the JDK's keystore (JKS on Debian) takes keytool, about 0.3 s, and
writing PKCS#12 takes cryptography: both results are cached in the per-user
cache directory, so a kernel's start after `install` pays for neither.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

from .._bounded import MAX_BODY
from .._pem import certificate_blocks
from .._userdir import cache_dir, user_dir
from .._writefile import write_atomically
from ..errors import StorageError
from .base import Answer, Attempt, CaSet, CaVariable, ClientTrust, Family, KnownFailure, Request, TrustView

__all__ = ["FAMILY", "PASSWORD", "VARIABLE", "java_home", "jdk_cacerts", "truststore_options"]

VARIABLE = "JAVA_TOOL_OPTIONS"
#: The JDK's own convention; a truststore holds public certificates only, and its password just
#: keys the integrity check keytool and the JVM make when they are given one.
PASSWORD = "changeit"
#: Options that override JAVA_TOOL_OPTIONS (the JVM reads them later): named in `status` if they set a truststore.
_LATER_OPTIONS = ("JDK_JAVA_OPTIONS", "_JAVA_OPTIONS")
_STORE_OPTION = re.compile(r"^-Djavax\.net\.ssl\.trustStore(?P<what>|Type|Password)=(?P<value>.*)$")
#: cache file name -> its content (failures are not kept: the next add asks again, and says why)
_MEMORY: dict[str, bytes] = {}
#: why the last base could not be read (shown in `status --clients`)
_problem = ""


def java_home(env: Mapping[str, str] | None = None) -> Path | None:
    """The JDK children would run: ``$JAVA_HOME`` (PySpark's and Maven's rule), else the ``java`` on PATH."""
    env = os.environ if env is None else env
    home = env.get("JAVA_HOME")
    if home and os.path.isfile(os.path.join(home, "bin", "java")):
        return Path(home)
    java = shutil.which("java", path=env.get("PATH"))
    return Path(os.path.realpath(java)).parent.parent if java else None


def jdk_cacerts(home: Path) -> Path | None:
    """The keystore the JDK trusts by default: JSSE's ``jssecacerts`` when an admin made one, else
    ``cacerts`` (Debian links it to /etc/ssl/certs/java/cacerts); under lib/security (9+) or
    jre/lib/security (8)."""
    for directory in (home / "lib" / "security", home / "jre" / "lib" / "security"):
        for name in ("jssecacerts", "cacerts"):
            if (directory / name).is_file():
                return directory / name
    return None


def _words(options: str) -> list[str]:
    try:
        return shlex.split(options)
    except ValueError:  # an unbalanced quote: the JVM's own splitting is on whitespace, too
        return options.split()


def _their_store(options: str) -> dict[str, str]:
    """The truststore options the user's own JAVA_TOOL_OPTIONS set: "" (path), "Type", "Password"."""
    found = {}
    for word in _words(options):
        m = _STORE_OPTION.match(word)
        if m:
            found[m.group("what")] = m.group("value")
    return found


def truststore_options(path: str) -> list[str]:
    """The options that make a JVM trust `path` (and nothing else)."""
    # The JVM splits JAVA_TOOL_OPTIONS on white space and honours both quotes: a path holding either
    # is quoted with the other (the per-user directory never holds both: see `_base`).
    shown = path
    if any(c.isspace() or c in "\"'" for c in path):
        shown = f"'{path}'" if '"' in path else f'"{path}"'
    return [
        f"-Djavax.net.ssl.trustStore={shown}",
        "-Djavax.net.ssl.trustStoreType=PKCS12",
        f"-Djavax.net.ssl.trustStorePassword={PASSWORD}",
    ]


#: One truststore option in the user's text, quoted value included.
_STORE_WORD = re.compile(r"""(?:^|\s+)-Djavax\.net\.ssl\.trustStore(?:Type|Password)?=(?:"[^"]*"|'[^']*'|\S)*""")


def _value(before: str | None, path: str) -> str:
    """The user's own options as they wrote them, minus truststore options of theirs (ours replace
    them: their store is the base), plus ours."""
    kept = _STORE_WORD.sub("", before or "").strip()
    return " ".join([*([kept] if kept else []), *truststore_options(path)])


def _cached(
    name: str, compute: Callable[[], bytes | None], keep: bool = True, valid: Callable[[bytes], bool] = bool
) -> bytes | None:
    """`name` from memory or the per-user cache, else what `compute` gives; `keep`: written to the cache.

    A name is its content's key.  A memory hit still puts a file to keep in the cache it is missing
    from (another per-user directory): a kernel started there will look for it.  The cache is safe
    to lose: one that cannot be read or written is a miss, a file that is not `valid` (damaged) is
    replaced, and an empty answer is never kept.
    """
    path: Path | None
    try:
        path = cache_dir() / name
    except StorageError:
        path = None
    data = _MEMORY.get(name)
    if data is None and path is not None:
        try:
            data = path.read_bytes()
        except OSError:
            data = None
        if data is not None and not valid(data):
            data = None  # damaged: computed again, and the file replaced
    stored = data is not None
    if data is None:
        data = compute()
    if data is None:
        return None  # not remembered: the next add asks again, and says why again
    if len(_MEMORY) > 32:
        _MEMORY.clear()
    _MEMORY[name] = data
    if keep and path is not None and not (stored and path.exists()):
        try:
            write_atomically(path, data)
        except (OSError, StorageError):
            return data
        _prune(path.parent, name.split("-", 2)[1])
    return data


def _prune(directory: Path, kind: str, keep: int = 8) -> None:
    """Keep the newest few cache files of a kind: no process reads them (they are copied, never named)."""
    try:
        files = sorted(directory.glob(f"jvm-{kind}-*"), key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return
    for old in files[keep:]:
        try:
            old.unlink()
        except OSError:
            pass


def _keystore_pem(home: Path, store: str, storetype: str, password: str) -> bytes | None:
    """The certificates of a keystore as PEM, read by the JDK's keytool (JKS or PKCS#12 alike)."""
    global _problem
    try:
        st = os.stat(store)
    except OSError as exc:
        _problem = f"{store}: {exc.strerror or exc}"
        return None
    key = (os.path.realpath(store), str(st.st_ino), str(st.st_mtime_ns), str(st.st_size), storetype, password)
    name = f"jvm-roots-{hashlib.sha256('|'.join(key).encode()).hexdigest()[:20]}.pem"
    return _cached(name, lambda: _run_keytool(home, store, storetype, password), valid=lambda d: bool(_blocks(d)))


def _run_keytool(home: Path, store: str, storetype: str, password: str) -> bytes | None:
    global _problem
    keytool = home / "bin" / "keytool"
    args = [str(keytool), "-list", "-rfc", "-keystore", store, "-storepass:env", "SLY_NB_TLS_STOREPASS"]
    if storetype:
        args += ["-storetype", storetype]
    # The user's JVM options are not keytool's business (and ours may name a file of a past add).
    env = {k: v for k, v in os.environ.items() if k not in (VARIABLE, *_LATER_OPTIONS)}
    env["SLY_NB_TLS_STOREPASS"] = password
    try:
        out = subprocess.run(args, capture_output=True, env=env, stdin=subprocess.DEVNULL, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        _problem = f"keytool could not run: {exc}"
        return None
    # One certificate per entry: a trusted certificate, or the first of a key entry's chain, which is
    # all a JVM trusts of it (the rest of that chain must not become anchors).
    firsts = [found[0][1] for entry in out.stdout.split(b"Alias name:")[1:] if (found := certificate_blocks(entry))]
    if out.returncode != 0 or not firsts:
        said = (out.stderr or out.stdout).decode("utf-8", "replace").strip().splitlines()
        _problem = f"keytool cannot read {store}: {said[-1] if said else f'exit {out.returncode}'}"
        return None
    return b"".join(firsts)


def _base(original: Mapping[str, str | None]) -> CaSet | None:
    global _problem
    _problem = ""
    home = java_home()
    if home is None:
        return None  # no Java here: nothing to give it
    theirs = _their_store(original.get(VARIABLE) or "")
    if "" in theirs:
        store, label = theirs[""], f"{VARIABLE} trustStore: {theirs['']}"
    else:
        cacerts = jdk_cacerts(home)
        if cacerts is None:
            _problem = f"{home} has no lib/security/cacerts"
            return None
        store, label = str(cacerts), "the JDK's cacerts"
    try:
        directory = str(user_dir())
    except StorageError as exc:
        _problem = str(exc)
        return None
    if '"' in directory and "'" in directory:
        _problem = "the per-user directory's path holds both quote characters, which JVM options cannot hold"
        return None
    pem = _keystore_pem(home, store, theirs.get("Type", ""), theirs.get("Password", PASSWORD))
    blocks = dict(_blocks(pem)) if pem is not None else {}
    if not blocks:
        return None  # a store keytool cannot read: the JVM's trust is left as it is
    return CaSet(label, blocks=blocks)


@functools.lru_cache(maxsize=4)
def _blocks(pem: bytes) -> tuple[tuple[str, bytes], ...]:
    """The keystore's certificates by fingerprint: parsed once per process (each `add` after a `reset`
    collects the bases again, and the JDK's 140-odd roots take milliseconds)."""
    return tuple(certificate_blocks(pem))


def _encode(blocks: Mapping[str, bytes], keep: bool) -> bytes:
    """A PKCS#12 truststore of exactly `blocks`, each a trusted certificate named by its fingerprint."""
    # The key holds all the file depends on: the set, the password, this format's version.
    key = hashlib.sha256(f"v1|{PASSWORD}|{''.join(sorted(blocks))}".encode()).hexdigest()[:20]
    data = _cached(f"jvm-truststore-{key}.p12", lambda: _truststore(blocks), keep)
    assert data is not None  # cryptography either writes it or raises
    return data


def _truststore(blocks: Mapping[str, bytes]) -> bytes:
    import warnings

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    with warnings.catch_warnings():
        # A JDK's cacerts holds old roots with a negative serial number; the JVM trusts them, so do we.
        warnings.simplefilter("ignore")
        certs = {sha: x509.load_pem_x509_certificate(blocks[sha]) for sha in sorted(blocks)}
    entries = [pkcs12.PKCS12Certificate(cert, sha.encode()) for sha, cert in certs.items()]
    return pkcs12.serialize_java_truststore(entries, serialization.BestAvailableEncryption(PASSWORD.encode()))


def _rows(view: TrustView) -> list[ClientTrust]:
    home = java_home()
    if home is None:
        return [ClientTrust("java", "no Java here (no JAVA_HOME, no java on PATH)", None, "nothing changed")]
    value = os.environ.get(VARIABLE, "")
    store = _their_store(value).get("", "")
    for later in _LATER_OPTIONS:
        if _their_store(os.environ.get(later, "")).get(""):
            return [ClientTrust("java", f"{later} names a truststore", False, f"{later} wins over {VARIABLE}")]
    if store and value in view.ours:
        return [
            ClientTrust(
                "java",
                f"{VARIABLE}: {os.path.basename(store)}",
                True,
                "in JVMs started from now on (PySpark, JDBC tools); one running since before add keeps "
                "its trust: restart it",
            )
        ]
    if store:
        why = f"a truststore of its own ({_problem}): left as it is" if _problem else "a truststore of its own"
        return [ClientTrust("java", f"{VARIABLE} trustStore: {store}", False, why)]
    why = _problem or ("nothing added" if not view.ours else f"{VARIABLE} names no truststore")
    return [ClientTrust("java", "the JDK's cacerts", False, why)]


# -- the attempt of `test --clients` ------------------------------------------------------------
#: One request from a JVM, as a Java program makes it (java.net.http, the JDK's own client): run by
#: java's source launcher, so nothing is compiled ahead.  The headers (the token among them) come on
#: stdin, never on the command line; the body is cut at the cap; redirects are not followed.
_FETCH = r"""
import java.io.*; import java.net.URI; import java.net.http.*; import java.time.Duration;
public class SlyNbTlsFetch {
  public static void main(String[] a) throws Exception {
    Duration limit = Duration.ofMillis(Long.parseLong(a[2]));
    HttpRequest.Builder r = HttpRequest.newBuilder(URI.create(a[1])).timeout(limit);
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, "UTF-8"));
    for (String line; (line = in.readLine()) != null && !line.isEmpty(); ) {
      int colon = line.indexOf(':'); r.header(line.substring(0, colon).trim(), line.substring(colon + 1).trim());
    }
    byte[] body = a.length > 4 ? a[4].getBytes("UTF-8") : new byte[0];
    r.method(a[0], body.length > 0 ? HttpRequest.BodyPublishers.ofByteArray(body)
                                   : HttpRequest.BodyPublishers.noBody());
    HttpClient c = HttpClient.newBuilder().connectTimeout(limit).followRedirects(HttpClient.Redirect.NEVER).build();
    try {
      HttpResponse<InputStream> s = c.send(r.build(), HttpResponse.BodyHandlers.ofInputStream());
      System.out.print("STATUS " + s.statusCode() + "\nTYPE " + s.headers().firstValue("content-type").orElse("")
          + "\nLOCATION " + s.headers().firstValue("location").orElse("") + "\n\n");
      System.out.write(s.body().readNBytes(Integer.parseInt(a[3]))); System.out.flush();
    } catch (Exception e) {
      Throwable t = e; while (t.getCause() != null) t = t.getCause();
      System.out.print("ERROR " + e.getClass().getName() + " " + t.getClass().getName() + " " + e.getMessage() + "\n");
    }
  }
}
"""
#: What the JVM's exception says -> the problem code `test` uses; the first that matches wins, so the
#: specific ones come before ConnectException, which java.net.http wraps around most of them.
_JAVA_PROBLEMS = (
    ("PKIX path building failed", "untrusted_root"),
    ("CertificateExpiredException", "expired"),
    ("No subject alternative", "hostname_mismatch"),
    ("doesn't match any of the subject alternative names", "hostname_mismatch"),
    ("UnresolvedAddressException", "dns_failure"),
    ("UnknownHostException", "dns_failure"),
    ("HttpConnectTimeoutException", "timeout"),
    ("HttpTimeoutException", "timeout"),
    ("ConnectException", "connection_refused"),
    ("SSLHandshakeException", "tls_error"),
)


def _via_java(request: Request, seconds: float) -> Answer:
    home = java_home()
    if home is None:
        raise KnownFailure("not_run", "no Java here")
    source = cache_dir() / f"jvm-fetch-{hashlib.sha256(_FETCH.encode()).hexdigest()[:12]}.java"
    if not source.exists():
        write_atomically(source, _FETCH.encode())
    args = [
        str(home / "bin" / "java"),
        str(source),
        request.method,
        request.url,
        str(int(seconds * 1000)),
        str(MAX_BODY),
    ]
    if request.body is not None:
        args.append(request.body.decode())
    headers = "".join(f"{k}: {v}\n" for k, v in request.headers.items()) + "\n"
    try:
        done = subprocess.run(args, input=headers.encode(), capture_output=True, timeout=seconds + 5)
    except subprocess.TimeoutExpired:
        raise KnownFailure("timeout", "the JVM did not answer in time") from None
    head, _, body = done.stdout.partition(b"\n\n")
    text = head.decode("utf-8", "replace")
    if text.startswith("ERROR "):
        code = next((c for marker, c in _JAVA_PROBLEMS if marker in text), "http_error")
        raise KnownFailure(code, text.removeprefix("ERROR ").strip())
    fields = dict(line.partition(" ")[::2] for line in text.splitlines())
    if not fields.get("STATUS", "").isdigit():
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RuntimeError(f"the JVM printed no answer: {said[-1] if said else f'exit {done.returncode}'}")
    return Answer(int(fields["STATUS"]), body[:MAX_BODY], "", fields.get("TYPE", ""), fields.get("LOCATION", ""))


FAMILY = Family(
    name="java",
    order=70,
    variables=(CaVariable(VARIABLE, "JVMs (java, PySpark, JDBC tools)", _base, encode=_encode, value=_value),),
    rows=_rows,
    also_reads=("JAVA_HOME", *_LATER_OPTIONS),
    attempts=(
        Attempt(
            "java (child JVM)",
            _via_java,
            tool="java",
            proxy="none",
            reads="java",
            slow=True,
            ignores_proxy_because="a JVM reads -Dhttps.proxyHost, never HTTPS_PROXY",
        ),
    ),
)
