"""JVMs this process drives (PySpark's driver): a default SSL context of their own roots plus the extras, and back."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

from ..clients import families
from ..clients.base import RunningJvm

__all__ = ["RunningJvms"]


class RunningJvms:
    """Each running JVM's default SSL context, swapped for one trusting its own roots plus the extras.

    A JVM reads its truststore once, when it first makes a TLS connection, and PySpark's driver
    outlives ``spark.stop()``: only a new default context reaches it.  Its own roots are what its
    TrustManagerFactory reads now: the truststore its options named (``spark.driver.extraJavaOptions``
    or ours) or the JDK's, so nothing is widened.  Connections and clients made before the swap keep
    what they had (a JVM-side ``HttpClient`` built earlier, a pool).  A JVM with a client keystore
    of its own is left alone: the new context would drop its key managers (mTLS).
    """

    def __init__(self, extras: Callable[[], Mapping[str, bytes]]) -> None:
        #: fingerprint -> DER of each extra, read at each update
        self._extras = extras
        #: label -> (the JVM, its own default SSLContext, its own HttpsURLConnection socket factory)
        self.saved: dict[str, tuple[Any, Any, Any]] = {}
        #: the process whose gateways these are: a forked child shares their sockets, never their JVMs
        self._owner = os.getpid()

    def running(self) -> dict[str, tuple[RunningJvm, Any]]:
        """label -> (its declaration, the gateway's view of it), for each JVM that runs now."""
        if os.getpid() != self._owner:
            return {}
        found = {}
        for family in families():
            for spec in family.running_jvms:
                module = sys.modules.get(spec.module)  # never imported here: no session without it
                owner = getattr(module, spec.owner, None) if module is not None else None
                jvm = getattr(owner, spec.attr, None) if owner is not None else None
                if jvm is not None:
                    found[spec.label] = (spec, jvm)
        return found

    def update(self, paths: Mapping[str, str], only_given: bool = False) -> tuple[list[str], list[str]]:
        """Give each running JVM a default context of its own roots plus the extras as they are now:
        (updated, notes).  `only_given`: just those that have the extras (given live, or started on
        `paths`' truststore) and must not keep a removed one (`remove`, `add --no-live`)."""
        updated, notes = [], []
        for label, (spec, jvm) in self.running().items():
            if only_given and label not in self.saved and not _started_on(jvm, paths.get(spec.variable)):
                continue
            try:
                if jvm.java.lang.System.getProperty("javax.net.ssl.keyStore"):
                    notes.append(f"{label}: has a client keystore, which a new context would drop: restart it")
                    continue
                net = jvm.javax.net.ssl
                own = (net.SSLContext.getDefault(), net.HttpsURLConnection.getDefaultSSLSocketFactory())
                _set_default(jvm, _context(jvm, self._extras()))
            except Exception as exc:  # noqa: BLE001 - a gateway that went away: say so, go on
                notes.append(f"{label}: not given the extras ({type(exc).__name__}: {exc}); restart the kernel")
                continue
            if label not in self.saved or self.saved[label][0] is not jvm:
                self.saved[label] = (jvm, *own)
            updated.append(f"{label}: its default SSL context (new connections)")
        return updated, notes

    def restore(self, paths: Mapping[str, str]) -> list[str]:
        """Each JVM's own context back; one started on `paths`' truststore (its own context held the
        extras) gets one of that file as `reset` rewrote it.  Notes on what could not be done."""
        notes = []
        for label, (spec, jvm) in self.running().items():
            try:
                if _started_on(jvm, paths.get(spec.variable)):
                    _set_default(jvm, _context(jvm, {}))
                elif label in self.saved and self.saved[label][0] is jvm:
                    _set_default(jvm, *self.saved[label][1:])
            except Exception as exc:  # noqa: BLE001 - a gateway that went away has nothing left to restore
                notes.append(f"{label}: its own SSL context not put back ({type(exc).__name__}); restart the kernel")
        self.saved = {}
        return notes

    def state(self, paths: Mapping[str, str]) -> dict[str, bool]:
        """label -> whether it trusts the extras now (given them live, or started on `paths`' truststore)."""
        return {
            label: label in self.saved or _started_on(jvm, paths.get(spec.variable))
            for label, (spec, jvm) in self.running().items()
        }

    def forget_after_fork(self) -> None:
        """In a forked child: the parent's gateways (and their sockets) are never this process's to drive."""
        self.saved, self._owner = {}, -1


def _started_on(jvm: Any, path: str | None) -> bool:
    """Did the JVM start with `path` as its truststore (a session made after `add`)?"""
    try:
        return bool(path) and jvm.java.lang.System.getProperty("javax.net.ssl.trustStore") == path
    except Exception:  # noqa: BLE001 - a gateway that went away: it trusts nothing of ours
        return False


def _context(jvm: Any, extras: Mapping[str, bytes]) -> Any:
    """An SSLContext in `jvm` trusting the roots it trusts by its own configuration, read now, plus `extras`."""
    factory = jvm.javax.net.ssl.TrustManagerFactory
    own = factory.getInstance(factory.getDefaultAlgorithm())
    own.init(None)  # its configured truststore (or the JDK's), as the file is now
    store = jvm.java.security.KeyStore.getInstance("PKCS12")
    store.load(None, None)
    issuers = [cert for manager in own.getTrustManagers() for cert in manager.getAcceptedIssuers()]
    for n, cert in enumerate(issuers):
        store.setCertificateEntry(f"own-{n}", cert)
    x509 = jvm.java.security.cert.CertificateFactory.getInstance("X.509")
    for sha, der in extras.items():
        store.setCertificateEntry(f"extra-{sha}", x509.generateCertificate(jvm.java.io.ByteArrayInputStream(der)))
    trust = factory.getInstance(factory.getDefaultAlgorithm())
    trust.init(store)
    context = jvm.javax.net.ssl.SSLContext.getInstance("TLS")
    context.init(None, trust.getTrustManagers(), None)
    return context


def _set_default(jvm: Any, context: Any, factory: Any = None) -> None:
    # Both: HttpsURLConnection caches its socket factory at first use, apart from the default context.
    jvm.javax.net.ssl.SSLContext.setDefault(context)
    jvm.javax.net.ssl.HttpsURLConnection.setDefaultSSLSocketFactory(factory or context.getSocketFactory())
