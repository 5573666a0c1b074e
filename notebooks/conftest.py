"""nbval runs these notebooks in a kernel that inherits this process's environment.

Clear every CA variable first, so the outputs are the same on a laptop that
presets REQUESTS_CA_BUNDLE & co. and on one that does not (tests/ covers both),
and point the per-user directory at a scratch folder.
"""

from __future__ import annotations

import os
import tempfile

from sly_nb_tls.trust.environ import VARIABLES_READ

CA_VARIABLES = VARIABLES_READ
NO_CONFIG = ("NPM_CONFIG_USERCONFIG", "NPM_CONFIG_GLOBALCONFIG", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM")


def pytest_configure(config: object) -> None:
    for var in CA_VARIABLES:
        os.environ.pop(var, None)
    # Under ~ as the real per-user directory is, so outputs show "~/…", never a machine's absolute path.
    cache = os.path.join(os.path.expanduser("~"), ".cache")
    os.makedirs(cache, exist_ok=True)
    os.environ["SLY_NB_TLS_DIR"] = scratch = tempfile.mkdtemp(prefix="sly-nb-tls-nbval-", dir=cache)
    # The notebooks' changes are audited into the scratch folder, never the machine user's log.
    os.environ["XDG_STATE_HOME"] = os.path.join(scratch, "state")
    os.environ.pop("SLY_NB_TLS_POLICY", None)
    # npm's and git's own config files can name a CA file (this machine's global npmrc does),
    # which adds a variable to the outputs: the notebooks' kernel reads none of them.
    empty = os.path.join(scratch, "empty.rc")
    open(empty, "w").close()
    for var in NO_CONFIG:
        os.environ[var] = empty
