"""pyarrow's S3 filesystem (C++: the AWS SDK over curl and OpenSSL): SSL_CERT_FILE, read once per process.

Measured with pyarrow 26 against the demo server playing S3, in this process and in
children:

- The path SSL_CERT_FILE names is read once, when pyarrow's filesystem layer first loads
  (``import pyarrow.fs``, ``pyarrow.parquet``, ``pyarrow.dataset``: ``pyarrow._fs``), and
  kept for the life of the process; unset, the system's CA file.  AWS_CA_BUNDLE and a
  later SSL_CERT_FILE are never read.  The file itself is read at each new connection.
- So a kernel that loaded pyarrow.fs before `add` keeps its roots until it restarts (or
  until a filesystem is made with ``tls_ca_file_path=os.environ["SSL_CERT_FILE"]``);
  one that loads it after `add` holds our bundle's path, and follows every later add,
  remove and reset, which rewrite that file in place.  Children started after `add`
  get the extras.
- pyarrow has no HTTPS filesystem of its own: https:// goes through fsspec (aiohttp,
  Python's ssl: the hooks reach it).  GCS and Azure are not measured.
"""

from __future__ import annotations

import sys

from .base import ClientTrust, Family, TrustView, by_variable, importable

__all__ = ["FAMILY"]

_CLIENT = "pyarrow.fs S3"
#: the module whose load makes pyarrow read SSL_CERT_FILE (pyarrow.fs, .parquet, .dataset import it)
_LOADS_ROOTS = "pyarrow._fs"


def _rows(view: TrustView) -> list[ClientTrust]:
    if not importable("pyarrow"):
        return []
    row = by_variable(_CLIENT, view, "SSL_CERT_FILE", default="the system's CA file")
    if not row.sees_extras:
        return [row]
    if _LOADS_ROOTS in sys.modules:
        # Which path pyarrow holds is not visible from Python: ours if it loaded after add.
        why = (
            "it reads it once: loaded before add, it keeps its roots (restart the kernel, or pass "
            "S3FileSystem(tls_ca_file_path=os.environ['SSL_CERT_FILE'])); children get them"
        )
        return [ClientTrust(_CLIENT, "SSL_CERT_FILE as it was when pyarrow.fs loaded here", None, why)]
    return [ClientTrust(_CLIENT, row.trust, True, "read once, when pyarrow.fs first loads (here or in a child)")]


FAMILY = Family(
    name="pyarrow",
    order=64,
    # SSL_CERT_FILE is the OpenSSL family's variable: one bundle serves every reader
    rows=_rows,
)
