"""Child tools: curl, git, npm, node, wget and pip, each with its own variable and config files."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._bounded import MAX_BODY, capped
from .base import (
    Answer,
    Attempt,
    CaSet,
    CaVariable,
    ClientTrust,
    Family,
    KnownFailure,
    Request,
    TrustView,
    additive_set,
    by_variable,
    config_text,
    ini_value,
    openssl_set,
)

__all__ = ["FAMILY", "wgetrc_text"]


# -- git -------------------------------------------------------------------------------------
def _git(original: Mapping[str, str | None]) -> CaSet | None:
    text = _git_config_text()
    if "sslcainfo" not in text.lower():
        return openssl_set()  # no git config names a CA file: spare the subprocess at start-up
    if re.search(r"^\s*\[\s*http\s+\"", text, re.IGNORECASE | re.MULTILINE):
        # A per-URL `[http "https://host"] sslCAInfo` cannot be expressed in GIT_SSL_CAINFO,
        # which would override it for every host: leave git alone.
        return None
    configured = _git_config("http.sslCAInfo")
    if configured:
        return CaSet.of_files(f"git http.sslCAInfo: {configured}", os.path.expanduser(configured))
    return openssl_set()


def _git_config_text() -> str:
    """The text of git's system and global config files (where http.sslCAInfo may be set)."""
    env = os.environ
    xdg = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    names = [
        env.get("GIT_CONFIG_SYSTEM") or "/etc/gitconfig",
        *([env["GIT_CONFIG_GLOBAL"]] if env.get("GIT_CONFIG_GLOBAL") else [str(Path.home() / ".gitconfig"),
                                                                           os.path.join(xdg, "git", "config")]),
    ]  # fmt: skip
    return "\n".join(text for text in map(config_text, names) if text is not None)


def _git_config(key: str) -> str | None:
    git = shutil.which("git")
    if git is None:
        return None
    try:
        out = subprocess.run([git, "config", "--get", key], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


# -- npm -------------------------------------------------------------------------------------
def _npm(original: Mapping[str, str | None]) -> CaSet | None:
    # npm's `cafile` replaces node's roots (NODE_EXTRA_CA_CERTS does not reach it); unset, npm
    # uses node's roots plus NODE_EXTRA_CA_CERTS and needs nothing from us.
    for rc in _npmrc_files():
        cafile = ini_value(rc, "cafile")
        if cafile:
            return CaSet.of_files(f"npm cafile: {cafile}", os.path.expanduser(cafile))
    return None


def _npmrc_files() -> list[str]:
    """npm's config files, first wins: the project's, the user's, the global one, npm's built-in one."""
    env = os.environ
    try:
        files = [os.path.join(os.getcwd(), ".npmrc")]
    except OSError:  # the working directory was deleted
        files = []
    files.append(env.get("NPM_CONFIG_USERCONFIG") or env.get("npm_config_userconfig") or str(Path.home() / ".npmrc"))
    node = shutil.which("node")
    prefix = env.get("NPM_CONFIG_PREFIX") or env.get("npm_config_prefix")
    if not prefix and node:
        prefix = os.path.dirname(os.path.dirname(os.path.realpath(node)))
    globalconfig = env.get("NPM_CONFIG_GLOBALCONFIG") or env.get("npm_config_globalconfig")
    if globalconfig or prefix:
        files.append(globalconfig or os.path.join(prefix or "", "etc", "npmrc"))
    npm = shutil.which("npm")
    if npm:
        files.append(os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(npm))), "npmrc"))
    return files


# -- wget ------------------------------------------------------------------------------------
_WGET_CA = re.compile(r"^\s*ca[-_]?certificate\s*=\s*(?P<path>.*?)\s*$", re.IGNORECASE)


def _wget(original: Mapping[str, str | None]) -> CaSet | None:
    # wget reads the system wgetrc, then $WGETRC or ~/.wgetrc.  Ours replaces the user's, so it
    # carries the user's lines, and its ca_certificate (which adds to the system's roots) holds
    # the user's own CA file, if one was set, plus the extras.
    rc = original.get("WGETRC") or str(Path.home() / ".wgetrc")
    text = config_text(rc) or ""
    kept, cafiles = [], []
    for line in text.splitlines():
        m = _WGET_CA.match(line)
        if m:
            cafiles.append(os.path.expanduser(m.group("path")))
        else:
            kept.append(line)
    if not cafiles:
        # Ours is read after the system wgetrc and its ca_certificate replaces the system one's.
        system = ini_value(os.environ.get("SYSTEM_WGETRC") or "/etc/wgetrc", "ca_certificate")
        cafiles = [os.path.expanduser(system)] if system else []
    label = f"wgetrc ca_certificate: {cafiles[-1]}" if cafiles else "nothing (additive)"
    ca_set = CaSet.of_files(label, *cafiles[-1:])
    ca_set.config = "\n".join(kept)
    ca_set.original_config = text
    return ca_set


def wgetrc_text(user_lines: str, cafile: str) -> bytes:
    """Our wgetrc: the user's own lines, and a ca_certificate naming the bundle."""
    return (
        (user_lines.rstrip("\n") + f"\n# added by sly_nb_tls (undone by reset)\nca_certificate = {cafile}\n")
        .lstrip("\n")
        .encode()
    )


def _preset_only(original: Mapping[str, str | None]) -> CaSet | None:
    return None  # pip reads REQUESTS_CA_BUNDLE when PIP_CERT is unset


# -- rows and the curl attempt ---------------------------------------------------------------
_TOOLS = (
    ("curl", ("CURL_CA_BUNDLE",), "its built-in CA file"),
    ("git", ("GIT_SSL_CAINFO",), "its configured or built-in CA file"),
    ("node", ("NODE_EXTRA_CA_CERTS",), "its built-in roots"),
    ("npm", ("npm_config_cafile", "NODE_EXTRA_CA_CERTS"), "node's roots"),
    ("wget", ("WGETRC",), "the system's roots"),
)


def _rows(view: TrustView) -> list[ClientTrust]:
    return [
        by_variable(f"{tool} (child)", view, *variables, default=default)
        for tool, variables, default in _TOOLS
        if shutil.which(tool)
    ]


# curl's exit codes (man curl, EXIT CODES) for what `test` calls a problem
_CURL_CODES = {5: "proxy_unreachable", 6: "dns_failure", 7: "connection_refused", 28: "timeout",
               35: "not_tls", 52: "not_supervisely", 56: "proxy_rejected", 60: "untrusted_root",
               97: "proxy_unreachable"}  # fmt: skip


def _via_curl(request: Request, seconds: float) -> Answer:
    # The headers (the token among them) go through stdin, never the command line: other users
    # of a shared machine can read every process's arguments.  The answer's headers come first
    # on stdout (-D -), so a body over the cap can be cut off without losing the status.
    args = ["curl", "-sS", "-D", "-", "--suppress-connect-headers", "-o", "-", "--max-time", f"{seconds:.3f}",
            "-X", request.method, "-H", "@-"]  # fmt: skip
    if request.body is not None:
        args += ["--data-binary", request.body.decode()]
    header_lines = "".join(f"{k}: {v}\n" for k, v in request.headers.items())
    with subprocess.Popen([*args, request.url], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as proc:  # fmt: skip
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        proc.stdin.write(header_lines.encode())
        proc.stdin.close()
        stdout: Any = proc.stdout  # a BufferedReader: read1 returns what is there, without waiting for more
        cap = MAX_BODY + 65536  # the body, and room for the headers before it
        out = capped(iter(lambda: stdout.read1(65536), b""), cap)
        cut = len(out) >= cap
        if cut:
            proc.kill()  # over the cap: the rest is not wanted
        message = proc.stderr.read(4096).decode("utf-8", "replace").strip()
        returncode = proc.wait()
    if returncode != 0 and not cut:
        code = _CURL_CODES.get(returncode, "http_error")
        if returncode == 56 and "407" in message:
            code = "proxy_auth_required"
        if returncode == 60 and ("expired" in message or "mismatch" in message or "match target" in message):
            code = "expired" if "expired" in message else "hostname_mismatch"
        raise KnownFailure(code, f"curl exit {returncode}: {message}")
    return curl_answer(out)


def curl_answer(out: bytes) -> Answer:
    """The status, headers and body of what ``curl -D - -o -`` printed (1xx header blocks skipped)."""
    while True:
        head, _, out = out.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        if not 100 <= status < 200 or not out:
            break
    fields = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    reason = parts[2] if len(parts) > 2 else ""
    return Answer(status, out[:MAX_BODY], reason, fields.get("content-type", ""), fields.get("location", ""))


FAMILY = Family(
    name="tools",
    order=70,
    variables=(
        CaVariable("CURL_CA_BUNDLE", "curl", lambda original: openssl_set()),
        CaVariable("GIT_SSL_CAINFO", "git", _git),
        CaVariable("PIP_CERT", "pip", _preset_only),
        CaVariable("npm_config_cafile", "npm (its cafile)", _npm),
        CaVariable("NODE_EXTRA_CA_CERTS", "node, npm", additive_set, additive=True),
        CaVariable("WGETRC", "wget (a wgetrc)", _wget, additive=True, config=wgetrc_text),
    ),
    rows=_rows,
    attempts=(Attempt("curl", _via_curl, tool="curl", proxy="curl", reads="openssl"),),
)
