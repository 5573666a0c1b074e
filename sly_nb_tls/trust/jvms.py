"""JVMs this process drives (PySpark's driver): a default SSL context of the truststore, and their own back."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from ..clients import families
from ..clients.base import RunningJvm

__all__ = ["RunningJvms"]


class RunningJvms:
    """Each running JVM's default SSL context, swapped for one built from its variable's truststore.

    A JVM reads its truststore once, when it first makes a TLS connection, and PySpark's driver
    outlives ``spark.stop()``: only a new default context reaches it.  Connections and clients
    made before the swap keep what they had (a JVM-side ``HttpClient`` built earlier, a pool).
    """

    def __init__(self, paths: Callable[[], dict[str, str]]) -> None:
        #: variable -> the file `add` wrote for it, read at each update (a later add rewrites the file)
        self._paths = paths
        #: label -> (the JVM, its own default SSLContext, its own HttpsURLConnection socket factory)
        self.saved: dict[str, tuple[Any, Any, Any]] = {}

    def running(self) -> dict[str, tuple[RunningJvm, Any]]:
        """label -> (its declaration, the gateway's view of it), for each JVM that runs now."""
        found = {}
        for family in families():
            for spec in family.running_jvms:
                module = sys.modules.get(spec.module)  # never imported here: no session without it
                owner = getattr(module, spec.owner, None) if module is not None else None
                jvm = getattr(owner, spec.attr, None) if owner is not None else None
                if jvm is not None:
                    found[spec.label] = (spec, jvm)
        return found

    def update(self) -> tuple[list[str], list[str]]:
        """Give each running JVM a default context of its truststore as the file is now: (updated, notes)."""
        updated, notes = [], []
        for label, (spec, jvm) in self.running().items():
            path = self._paths().get(spec.variable)
            if not path:
                continue
            try:
                net = jvm.javax.net.ssl
                if label not in self.saved or self.saved[label][0] is not jvm:
                    own = (net.SSLContext.getDefault(), net.HttpsURLConnection.getDefaultSSLSocketFactory())
                    self.saved[label] = (jvm, *own)
                _set_default(jvm, _context(jvm, path, spec))
            except Exception as exc:  # noqa: BLE001 - a gateway that went away: say so, go on
                notes.append(f"{label}: not given the extras ({type(exc).__name__}: {exc}); restart the kernel")
                continue
            updated.append(f"{label}: its default SSL context (new connections)")
        return updated, notes

    def restore(self) -> list[str]:
        """Each JVM's own context back; one started on the truststore (its own context held the extras)
        gets one of the file as `reset` rewrote it: its base.  Notes on what could not be done."""
        notes = []
        running = self.running()
        for label in sorted(set(self.saved) | set(running)):
            try:
                if label in running and self._started_on_ours(*running[label]):
                    spec, jvm = running[label]
                    _set_default(jvm, _context(jvm, self._paths()[spec.variable], spec))
                elif label in self.saved:
                    jvm, context, factory = self.saved[label]
                    jvm.javax.net.ssl.SSLContext.setDefault(context)
                    jvm.javax.net.ssl.HttpsURLConnection.setDefaultSSLSocketFactory(factory)
            except Exception as exc:  # noqa: BLE001 - a gateway that went away has nothing left to restore
                notes.append(f"{label}: its own SSL context not put back ({type(exc).__name__}); restart the kernel")
        self.saved = {}
        return notes

    def _started_on_ours(self, spec: RunningJvm, jvm: Any) -> bool:
        """Did the JVM start with the truststore `add` wrote (a session made after `add`)?"""
        path = self._paths().get(spec.variable)
        try:
            return bool(path) and jvm.java.lang.System.getProperty("javax.net.ssl.trustStore") == path
        except Exception:  # noqa: BLE001 - a gateway that went away: it trusts nothing of ours
            return False

    def state(self) -> dict[str, bool]:
        """label -> whether it trusts the extras (given live, or started on the truststore), for each
        JVM that runs now."""
        return {
            label: label in self.saved or self._started_on_ours(spec, jvm)
            for label, (spec, jvm) in self.running().items()
        }


def _context(jvm: Any, path: str, spec: RunningJvm) -> Any:
    """An SSLContext in `jvm` trusting exactly the truststore at `path`."""
    password = jvm.java.nio.CharBuffer.allocate(len(spec.password)).put(spec.password).array()  # a char[]
    store = jvm.java.security.KeyStore.getInstance(spec.store_type)
    stream = jvm.java.io.FileInputStream(path)
    try:
        store.load(stream, password)
    finally:
        stream.close()
    factory = jvm.javax.net.ssl.TrustManagerFactory
    trust = factory.getInstance(factory.getDefaultAlgorithm())
    trust.init(store)
    context = jvm.javax.net.ssl.SSLContext.getInstance("TLS")
    context.init(None, trust.getTrustManagers(), None)
    return context


def _set_default(jvm: Any, context: Any) -> None:
    # Both: HttpsURLConnection caches its socket factory at first use, apart from the default context.
    jvm.javax.net.ssl.SSLContext.setDefault(context)
    jvm.javax.net.ssl.HttpsURLConnection.setDefaultSSLSocketFactory(context.getSocketFactory())
