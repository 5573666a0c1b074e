"""What a rustls client's connection error means, as the Python exception `test` classifies (uv, polars).

uv and polars report a failed connection as text (an exit message, an object_store error):
``invalid peer certificate: UnknownIssuer``, ``tcp connect error``, ``dns error``.  `failure`
turns that text into the exception Python's ssl or socket would have raised, so `test
--clients` gives them the same problem codes as every other client; None means the text
shows no failure to connect: the server answered over a verified connection.
"""

from __future__ import annotations

import re
import socket
import ssl

__all__ = ["failure"]

#: rustls' words for a certificate error -> OpenSSL's verify code and message for the same fault
_CERTIFICATE = (
    ("UnknownIssuer", 20, "unable to get local issuer certificate"),
    ("xpired", 10, "certificate has expired"),
    ("NotValidYet", 9, "certificate is not yet valid"),
    ("not valid yet", 9, "certificate is not yet valid"),
    ("NotValidForName", 62, "Hostname mismatch, certificate is not valid"),
    ("not valid for name", 62, "Hostname mismatch, certificate is not valid"),
    # a CA of the same name but another key (a rotated or impersonated root): OpenSSL says the same
    ("BadSignature", 7, "certificate signature failure"),
)
_PEER = re.compile(r"invalid peer certificate: ?(.*)")


def failure(text: str) -> BaseException | None:
    """The exception Python would raise for the connection failure `text` reports; None if none."""
    peer = _PEER.search(text)
    if peer:
        detail = peer.group(1).strip()
        for word, code, message in _CERTIFICATE:
            if word in detail:
                return _verify_error(code, message, detail)
        return _verify_error(None, detail or "invalid peer certificate", detail)
    lower = text.lower()
    if "connection refused" in lower:
        return ConnectionRefusedError(text[-300:])
    if "dns error" in lower or "failed to lookup address" in lower:
        return socket.gaierror(text[-300:])
    if "timed out" in lower or ("timeout" in lower and "error sending request" in lower):
        return TimeoutError(text[-300:])
    if "client error (connect)" in lower:  # TLS failed for another reason: no certificate was judged
        return ssl.SSLError(text[-300:])
    return None


def _verify_error(code: int | None, message: str, detail: str) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, f"certificate verify failed: {message} (rustls: {detail})")
    error.verify_code = code  # type: ignore[assignment]  # None: no OpenSSL code says the same
    error.verify_message = message
    return error
