"""Exceptions raised by sly_nb_tls.

In [1]: import sly_nb_tls
In [2]: sly_nb_tls.add_certs("server.key")
CertificateSourceError: server.key: this is a private key — never share it; give the CA certificate (chain) instead

Every error a user can cause by what they typed derives from one base class, so
front-ends catch one type and show its message without a traceback::

    SlyTlsError                      (also a ValueError: the input was wrong)
    ├── CertificateSourceError       a path / text that is not a usable certificate
    ├── UnknownCertificateError      `remove` target that matches no registered certificate
    ├── EnvFileError                 env file missing or not parseable
    ├── UrlError                     a URL that `test` / `fetch` cannot use
    ├── FetchError                   `fetch` reached no server, so there is no chain
    ├── StorageError                 a file or directory that cannot be written safely
    ├── PolicyError                  the admin's policy refuses the change, or cannot be read
    └── NoServerError                `--server`, where no Jupyter server started this process

Problems found while *testing a connection* are not exceptions: they are the
`.problem` of a ConnectionReport, because finding them is the point.
"""

from __future__ import annotations

__all__ = [
    "CertificateSourceError",
    "EnvFileError",
    "FetchError",
    "NoServerError",
    "PolicyError",
    "SlyTlsError",
    "StorageError",
    "UnknownCertificateError",
    "UrlError",
]


class SlyTlsError(ValueError):
    """Base class: the message is one line, meant for the user as it is."""


class CertificateSourceError(SlyTlsError):
    """A certificate source was rejected; nothing was changed."""


class UnknownCertificateError(SlyTlsError):
    """`remove` was given something that matches no registered certificate."""


class EnvFileError(SlyTlsError):
    """An env file is missing or has a syntax error; nothing was applied."""


class UrlError(SlyTlsError):
    """A URL that cannot be tested or fetched (bad scheme, host or port)."""


class FetchError(SlyTlsError):
    """`fetch` could not get a chain (DNS, refused, timeout, not TLS)."""


class StorageError(SlyTlsError):
    """The per-user directory, or a file to save to, cannot be used safely; nothing was written."""


class PolicyError(SlyTlsError):
    """The admin's policy file refuses this change (naming the certificate, the rule and the file),
    or the policy cannot be read, which refuses every change that would trust more (fail closed)."""


class NoServerError(SlyTlsError):
    """``--server`` where no Jupyter server started this process (a terminal IPython, VS Code):
    `add` says so in one line and changes this process only."""
