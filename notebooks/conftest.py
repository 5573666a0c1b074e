"""nbval runs these notebooks in a kernel that inherits this process's environment.

Clear every CA variable first, so the outputs are the same on a laptop that
presets REQUESTS_CA_BUNDLE & co. and on one that does not (tests/ covers both),
and point the per-user directory at a scratch folder.
"""

from __future__ import annotations

import os
import tempfile

CA_VARIABLES = (
    "REQUESTS_CA_BUNDLE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "CURL_CA_BUNDLE",
    "SLY_EXTRA_CA_CERTS",
    "GIT_SSL_CAINFO",
    "PIP_CERT",
    "NODE_EXTRA_CA_CERTS",
    "AWS_CA_BUNDLE",
    "HTTPLIB2_CA_CERTS",
    "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
    "SERVER_ADDRESS",
    "API_TOKEN",
    "HTTPS_PROXY",
    "https_proxy",
)


def pytest_configure(config: object) -> None:
    for var in CA_VARIABLES:
        os.environ.pop(var, None)
    os.environ["SLY_NB_TLS_DIR"] = tempfile.mkdtemp(prefix="sly-nb-tls-nbval-")
