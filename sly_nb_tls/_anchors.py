"""Equivalent anchors: a root CA that strict X.509 checks reject for its own structure, with only that corrected.

A trust anchor is a name and a key: OpenSSL (and the JVM's PKIX) never check an anchor's own
signature.  So a root with the same subject, key, serial, validity and constraints, whose only
change is what Python 3.13's ``VERIFY_X509_STRICT`` rejects (basicConstraints not critical, no
keyUsage, no Subject Key Identifier), makes exactly the same trust decisions and passes the
strict checks.  It is built deterministically: the corrected TBS carries the original's
signature algorithm, and the original's signature value is spliced onto it, so the same original
gives the same bytes on every machine, and OpenSSL still sees a self-signed certificate (it
requires the signature algorithm to match the key type for that).
"""

from __future__ import annotations

import dataclasses
import functools

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.x509.oid import ExtensionOID

from ._certs import Certificate, load_der_certificate, readable_extensions

__all__ = ["FIXABLE_DEFECTS", "equivalent_anchor"]

_NOT_CRITICAL = "basicConstraints is not marked critical"
_NO_KEY_USAGE = "a CA without a keyUsage extension"
_NO_SKI = "a CA without a Subject Key Identifier"
#: the strict defects (as `_certs.strict_x509_defects` words them) an equivalent anchor corrects
FIXABLE_DEFECTS = frozenset({_NOT_CRITICAL, _NO_KEY_USAGE, _NO_SKI})

# A missing keyUsage permits every use.  keyCertSign and cRLSign are what a CA's role needs;
# digitalSignature keeps a self-signed CA that is also the server's own certificate usable
# (OpenSSL's SSL-server purpose check rejects a keyUsage without digitalSignature,
# keyEncipherment or keyAgreement), and it lets the root sign OCSP responses, as before.
_CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
    key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
)  # fmt: skip

_SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey


def equivalent_anchor(cert: Certificate) -> Certificate | None:
    """The equivalent anchor of `cert`, or None: `cert` is not a self-signed CA, has no strict defect,
    has one this cannot correct, or is signed in a way this cannot reproduce (RSA-PSS, DSA)."""
    if not (cert.is_ca and cert.self_signed and cert.strict_defects):
        return None
    if not set(cert.strict_defects) <= FIXABLE_DEFECTS:
        return None
    original = load_der_certificate(cert.der)
    der = _equivalent_der(original)
    if der is None:
        return None
    equivalent = Certificate.from_x509(load_der_certificate(der), cert.source)
    if equivalent.strict_defects or equivalent.spki_sha256 != cert.spki_sha256:
        return None  # never trust something that is not the same key, or still rejected
    # Its own signature is the original's, over other bytes: no one checks an anchor's signature,
    # and it is the same root, so it is shown as one.
    return dataclasses.replace(
        equivalent,
        self_signed=True,
        original_sha256=cert.sha256,
        original_defects=cert.strict_defects,
    )


def _equivalent_der(original: x509.Certificate) -> bytes | None:
    exts, unreadable = readable_extensions(original)
    key = _throwaway_key(original)
    if unreadable or key is None:
        return None
    builder = (
        x509.CertificateBuilder()
        .subject_name(original.subject)
        .issuer_name(original.issuer)
        .public_key(original.public_key())  # type: ignore[arg-type]
        .serial_number(original.serial_number)
        .not_valid_before(original.not_valid_before_utc)
        .not_valid_after(original.not_valid_after_utc)
    )
    # The original's extensions in their order (basicConstraints made critical), then what is missing.
    for ext in exts:
        critical = True if ext.oid == ExtensionOID.BASIC_CONSTRAINTS else ext.critical
        builder = builder.add_extension(ext.value, critical=critical)
    present = {ext.oid for ext in exts}
    if ExtensionOID.SUBJECT_KEY_IDENTIFIER not in present:
        builder = builder.add_extension(_subject_key_identifier(original, exts), critical=False)
    if ExtensionOID.KEY_USAGE not in present:
        builder = builder.add_extension(_CA_KEY_USAGE, critical=True)
    hash_algorithm = original.signature_hash_algorithm
    try:
        scratch = builder.sign(key, hash_algorithm)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    wanted, signature = _algorithm_and_signature(original)
    got, _ = _algorithm_and_signature(scratch)
    if not wanted or wanted != got or wanted not in original.tbs_certificate_bytes:
        return None  # cryptography words this algorithm otherwise (RSA without NULL parameters)
    tbs = scratch.tbs_certificate_bytes
    return _tlv(0x30, tbs + wanted + _tlv(0x03, b"\x00" + signature))


def _subject_key_identifier(original: x509.Certificate, exts: x509.Extensions) -> x509.SubjectKeyIdentifier:
    """The key identifier its own AKI names (what it and its children were issued under), else RFC 5280's method 1."""
    try:
        aki = exts.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        aki = None
    if aki is not None and aki.key_identifier:
        return x509.SubjectKeyIdentifier(aki.key_identifier)
    return x509.SubjectKeyIdentifier.from_public_key(original.public_key())  # type: ignore[arg-type]


def _throwaway_key(original: x509.Certificate) -> _SigningKey | None:
    """A key of the original's signature type, only to have cryptography write the TBS with its algorithm."""
    params = original.signature_algorithm_parameters
    public = original.public_key()
    if isinstance(public, rsa.RSAPublicKey) and isinstance(params, padding.PKCS1v15):
        return _rsa_key()
    if isinstance(public, ec.EllipticCurvePublicKey) and isinstance(params, ec.ECDSA):
        return _ec_key(type(public.curve))
    if isinstance(public, ed25519.Ed25519PublicKey):
        return ed25519.Ed25519PrivateKey.generate()
    if isinstance(public, ed448.Ed448PublicKey):
        return ed448.Ed448PrivateKey.generate()
    return None  # RSA-PSS (its parameters would have to be reproduced exactly), DSA, others


@functools.lru_cache(maxsize=1)
def _rsa_key() -> rsa.RSAPrivateKey:
    # Its size is not in the TBS (the key there is the original's): the smallest allowed, made once.
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


@functools.lru_cache(maxsize=4)
def _ec_key(curve: type[ec.EllipticCurve]) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(curve())


def _algorithm_and_signature(cert: x509.Certificate) -> tuple[bytes, bytes]:
    """(its signatureAlgorithm's DER, its signature value): what follows the TBS in the certificate."""
    der = cert.public_bytes(serialization.Encoding.DER)
    tbs, signature = cert.tbs_certificate_bytes, cert.signature
    bit_string = _tlv(0x03, b"\x00" + signature)
    start = der.find(tbs)
    if start < 0 or not der.endswith(bit_string):
        return b"", signature
    return der[start + len(tbs) : len(der) - len(bit_string)], signature


def _tlv(tag: int, content: bytes) -> bytes:
    """One DER element: tag, definite length, content."""
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    length = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content
