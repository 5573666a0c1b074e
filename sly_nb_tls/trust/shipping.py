"""What goes to remote workers (Dask, Ray), which have none of this host's files: the certificates' PEM text."""

from __future__ import annotations

from .._fixes import command, say
from .._pem import Source as CertificateSource
from ..errors import CertificateSourceError
from .extras import registered
from .gate import admit

__all__ = ["shipped_pem"]


def shipped_pem(*sources: CertificateSource) -> str:
    """The PEM text of `sources`, or of every certificate registered now: what goes to remote workers,
    which have none of this host's files."""
    from .._sources import read_sources

    certificates = read_sources(sources).certificates if sources else registered()
    if not certificates:
        raise CertificateSourceError(
            f"nothing to ship to the workers: add certificates first ({say(command('add'))}), or pass them"
        )
    # The workers check again under their own policy; refused here (and audited), nothing ships.
    admit("add", list(certificates), [("workers", None)])
    return "".join(c.pem for c in certificates)
