"""nbval runs these notebooks in a kernel that inherits this process's environment.

Clear every CA variable first, so the outputs are the same on a laptop that
presets REQUESTS_CA_BUNDLE & co. and on one that does not (tests/ covers both),
and point the per-user directory at a scratch folder.
"""

from __future__ import annotations

import os
import tempfile

from sly_nb_tls._environ import VARIABLES_READ

CA_VARIABLES = VARIABLES_READ


def pytest_configure(config: object) -> None:
    for var in CA_VARIABLES:
        os.environ.pop(var, None)
    os.environ["SLY_NB_TLS_DIR"] = tempfile.mkdtemp(prefix="sly-nb-tls-nbval-")
