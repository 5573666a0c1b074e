"""Env files (python-dotenv): read, check, apply — and register the CAs they name.

The Supervisely SDK reads ``SLY_EXTRA_CA_CERTS`` only at ``import supervisely``
and never applies one that lives only in ``~/supervisely.env``.  Here the CA
variables (``SLY_EXTRA_CA_CERTS``, ``REQUESTS_CA_BUNDLE``, ``SSL_CERT_FILE``,
``CURL_CA_BUNDLE``) are not copied into the environment: the certificates they
name are registered as by `add_certs`, which works at any time, for every client.

Precedence, as `load_dotenv`: the first file listed wins over later ones
(``local.env`` over ``.env`` over ``~/supervisely.env``), and variables already
in the environment win over every file unless ``override=True``.
All or nothing: a missing file, a syntax error or a CA file that cannot be used
raises `EnvFileError` (or `CertificateSourceError`) before anything is applied.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from .._readfile import NotReadable, read_regular_file
from .._secrets import is_secret_key, redact, secret_values
from ..errors import CertificateSourceError, EnvFileError
from .envresults import EnvKey, EnvResult

__all__ = ["CA_KEYS", "DEFAULT_FILES", "load_env"]

DEFAULT_FILES = ("local.env", ".env", "~/supervisely.env")
#: Keys whose value is a CA file: registered, not exported.
CA_KEYS = ("SLY_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE")
_MAX_ENV_FILE = 1024 * 1024


def _shown(name: str, value: str, secrets: list[str]) -> str:
    """What may be displayed of a value: nothing of a secret key's, and no password inside a URL or DSN."""
    if is_secret_key(name):
        return f"({len(value)} chars, hidden)"
    return redact(value, secrets)


def _read_file(path: Path, label: str) -> dict[str, str | None]:
    from dotenv import dotenv_values
    from dotenv.parser import parse_stream

    try:
        text = read_regular_file(path, _MAX_ENV_FILE).decode("utf-8-sig")
    except NotReadable as exc:
        reason = "is a directory, not an env file" if exc.reason == "is a directory" else exc.reason
        raise EnvFileError(f"{label}: {reason}") from None
    except UnicodeDecodeError:
        raise EnvFileError(f"{label}: not a text file (not UTF-8)") from None
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            snippet = binding.original.string.strip().split("=", 1)[0][:40]
            raise EnvFileError(f"{label}:{binding.original.line}: syntax error near {snippet!r}; nothing was applied")
    return dict(dotenv_values(stream=io.StringIO(text), interpolate=True))


def _ca_sources(merged: dict[str, tuple[str, str, Path]]) -> tuple[list[str], list[str]]:
    """The CA files the env files name (each checked now: all or nothing), and the env files naming them."""
    from .._sources import read_sources

    ca_sources: list[str] = []
    env_files: list[str] = []
    for key in CA_KEYS:
        if key in merged:
            value, label, path = merged[key]
            source = value if os.path.isabs(os.path.expanduser(value)) else str(path.parent / value)
            try:
                read_sources([source])  # check now: all or nothing
            except CertificateSourceError as exc:
                raise EnvFileError(f"{label}: {key}={value}: {exc}; nothing was applied") from None
            ca_sources.append(source)
            env_files.append(str(path))
    return ca_sources, env_files


def load_env(*files: str, override: bool = False, cwd: str | None = None) -> EnvResult:
    """Read env files and apply them; register the CA files they name.

    With no `files`: ``local.env`` and ``.env`` in the working directory, then
    ``~/supervisely.env``, each if present.  Explicit files must exist.
    """
    from .._sources import read_sources, resolve_path

    explicit = bool(files)
    candidates = list(files) if explicit else list(DEFAULT_FILES)
    result = EnvResult(override=override)
    parsed: list[tuple[str, Path, dict[str, str | None]]] = []
    for name in candidates:
        path = resolve_path(name, cwd)
        label = name if not explicit else str(path)
        if not path.exists() and not explicit:
            result.files_missing.append(name)
            continue
        parsed.append((label, path, _read_file(path, label)))
        result.files_read.append(label)

    # The first file that defines a key wins (most specific first).
    merged: dict[str, tuple[str, str, Path]] = {}
    for label, path, values in parsed:
        for key, value in values.items():
            if value is not None and key not in merged:
                merged[key] = (value, label, path)

    ca_sources, env_files = _ca_sources(merged)

    # The files' secrets are secrets too, wherever they show up (the environment's as well).
    secrets = secret_values(extra=secret_values({k: v for k, (v, _, _) in merged.items()}))
    to_set: dict[str, str] = {}
    for key, (value, label, _path) in merged.items():
        if key in CA_KEYS:
            result.keys.append(EnvKey(key, "registered", _shown(key, value, secrets), label))
            continue
        if key in os.environ and not override:
            result.keys.append(EnvKey(key, "kept", _shown(key, os.environ[key], secrets), "kernel environment"))
            continue
        action = "overridden" if key in os.environ else "set"
        to_set[key] = value
        result.keys.append(EnvKey(key, action, _shown(key, value, secrets), label))

    if ca_sources:
        from .extras import trust_loaded

        # atomic, the policy checked: raises before the environment changes
        via = [("env file", path) for path in dict.fromkeys(env_files)]
        result.certificates = trust_loaded(read_sources(ca_sources), live=True, via=via)
    os.environ.update(to_set)
    return result
