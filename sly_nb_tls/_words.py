"""The words every layer shares: the names of the install scopes."""

from __future__ import annotations

from typing import Final

__all__ = ["SCOPES"]

#: Where `install` can make every new kernel trust a CA, in the order their stores are applied:
#: user (your IPython profile), env (this Python environment), system (the machine).
SCOPES: Final = ("user", "env", "system")
