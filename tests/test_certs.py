"""Certificate input: every accepted form, every rejection, every warning.

Test certificates come from trustme (an independent generator) where a plain
CA will do, and from `cryptography` directly for the unusual ones.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import NameOID

from sly_nb_tls._certs import Certificate
from sly_nb_tls._sources import MAX_SOURCE_BYTES, read_sources
from sly_nb_tls.demo import issue
from sly_nb_tls.errors import CertificateSourceError


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca2() -> trustme.CA:
    return trustme.CA()


def _pem(ca: trustme.CA) -> bytes:
    return ca.cert_pem.bytes()


def _fp(ca: trustme.CA) -> str:
    return Certificate.from_x509(x509.load_pem_x509_certificate(_pem(ca))).sha256


def _one(source: object, **kw: object) -> list[Certificate]:
    return read_sources([source], **kw).certificates  # type: ignore[list-item]


# --- accepted ---------------------------------------------------------------


def test_pem_file_with_one_certificate(tmp_path: Path, ca: trustme.CA) -> None:
    p = tmp_path / "root.crt"
    p.write_bytes(_pem(ca))
    (cert,) = _one(str(p))
    assert cert.sha256 == _fp(ca)
    assert cert.is_ca and cert.self_signed
    assert cert.source == str(p)
    assert cert.pem.startswith("-----BEGIN CERTIFICATE-----") and len(cert.sha256) == 64


def test_pem_file_with_many_certificates_crlf_bom_and_text_around(
    tmp_path: Path, ca: trustme.CA, ca2: trustme.CA
) -> None:
    text = (
        "Corporate chain, issued 2026\r\nsubject=CN=whatever\r\n"
        + _pem(ca).decode().replace("\n", "\r\n")
        + "\r\n-- and the second one --\r\n"
        + _pem(ca2).decode().replace("\n", "\r\n")
    )
    p = tmp_path / "chain.pem"
    p.write_bytes(b"\xef\xbb\xbf" + text.encode())
    certs = _one(str(p))
    assert [c.sha256 for c in certs] == [_fp(ca), _fp(ca2)]


def test_der_file(tmp_path: Path, ca: trustme.CA) -> None:
    der = x509.load_pem_x509_certificate(_pem(ca)).public_bytes(serialization.Encoding.DER)
    p = tmp_path / "root.der"
    p.write_bytes(der)
    assert [c.sha256 for c in _one(str(p))] == [_fp(ca)]


def test_pkcs7_pem_and_der(tmp_path: Path, ca: trustme.CA, ca2: trustme.CA) -> None:
    certs = [x509.load_pem_x509_certificate(_pem(c)) for c in (ca, ca2)]
    for enc, name in ((serialization.Encoding.PEM, "chain.p7b"), (serialization.Encoding.DER, "chain-der.p7b")):
        p = tmp_path / name
        p.write_bytes(pkcs7.serialize_certificates(certs, enc))
        assert {c.sha256 for c in _one(str(p))} == {_fp(ca), _fp(ca2)}


def test_directory_of_certificate_files(tmp_path: Path, ca: trustme.CA, ca2: trustme.CA) -> None:
    d = tmp_path / "certs"
    d.mkdir()
    (d / "a.crt").write_bytes(_pem(ca))
    (d / "b.pem").write_bytes(_pem(ca2))
    (d / "README.txt").write_text("these are our CAs")
    loaded = read_sources([str(d)])
    assert {c.sha256 for c in loaded.certificates} == {_fp(ca), _fp(ca2)}
    assert any("skipped" in w for w in loaded.warnings)


def test_pem_text_and_bytes(ca: trustme.CA) -> None:
    assert [c.sha256 for c in _one(_pem(ca).decode())] == [_fp(ca)]
    assert [c.sha256 for c in _one(_pem(ca))] == [_fp(ca)]


def test_home_and_variables_expanded_relative_to_cwd(
    tmp_path: Path, ca: trustme.CA, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "root.crt").write_bytes(_pem(ca))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CERTS_HERE", str(tmp_path))
    assert _one("~/root.crt")[0].sha256 == _fp(ca)
    assert _one("$CERTS_HERE/root.crt")[0].sha256 == _fp(ca)
    monkeypatch.chdir(tmp_path)
    assert _one("root.crt")[0].sha256 == _fp(ca)
    assert _one("root.crt", cwd=str(tmp_path))[0].sha256 == _fp(ca)


def test_duplicates_by_fingerprint_are_ignored(tmp_path: Path, ca: trustme.CA) -> None:
    (tmp_path / "a.crt").write_bytes(_pem(ca) + _pem(ca))
    (tmp_path / "b.crt").write_bytes(_pem(ca))
    loaded = read_sources([str(tmp_path / "a.crt"), str(tmp_path / "b.crt")])
    assert len(loaded.certificates) == 1
    assert loaded.origins[str(tmp_path / "b.crt")] == [_fp(ca)]


def test_certificate_value_object_fields(ca: trustme.CA) -> None:
    cert = _one(_pem(ca))[0]
    assert cert.not_before < cert.not_after
    assert cert.not_before.tzinfo is not None
    assert "O=trustme" in cert.subject and cert.issuer == cert.subject
    assert cert.fingerprint.replace(":", "").lower() == cert.sha256
    assert cert.warnings == ()
    assert cert == _one(_pem(ca))[0] and hash(cert) == hash(cert.sha256)


# --- rejected, each with a one-line message naming the file and what it is ---


def _rejects(source: object, *fragments: str) -> str:
    with pytest.raises(CertificateSourceError) as info:
        read_sources([source])  # type: ignore[list-item]
    msg = str(info.value)
    assert "\n" not in msg
    for fragment in fragments:
        assert fragment in msg, (fragment, msg)
    return msg


def test_missing_path(tmp_path: Path) -> None:
    _rejects(str(tmp_path / "nope.crt"), "nope.crt", "no such file")


def test_unset_variable_in_path_is_named(tmp_path: Path) -> None:
    _rejects("$SLY_TEST_UNSET_DIR/x.crt", "not set")


def test_empty_and_blank_files(tmp_path: Path) -> None:
    (tmp_path / "empty.crt").write_bytes(b"")
    (tmp_path / "blank.crt").write_bytes(b"\n  \n")
    _rejects(str(tmp_path / "empty.crt"), "empty.crt", "empty")
    _rejects(str(tmp_path / "blank.crt"), "blank.crt", "empty")


def test_binary_garbage_and_text_garbage(tmp_path: Path) -> None:
    (tmp_path / "garbage.bin").write_bytes(os.urandom(2048))
    (tmp_path / "notes.txt").write_text("hello, this is not a certificate\n")
    _rejects(str(tmp_path / "garbage.bin"), "garbage.bin", "not a certificate")
    _rejects(str(tmp_path / "notes.txt"), "notes.txt", "no certificate")


def _keys() -> dict[str, bytes]:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    return {
        "rsa.key": rsa_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ),
        "ec.key": ec_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ),
        "encrypted.key": rsa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret-pass"),
        ),
        "der.key": ec_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    }


@pytest.mark.parametrize("name", ["rsa.key", "ec.key", "encrypted.key", "der.key"])
def test_private_key_only(tmp_path: Path, name: str) -> None:
    p = tmp_path / name
    p.write_bytes(_keys()[name])
    _rejects(str(p), name, "this is a private key — never share it")


def _csr() -> x509.CertificateSigningRequest:
    key = ec.generate_private_key(ec.SECP256R1())
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "csr")]))
        .sign(key, hashes.SHA256())
    )


def test_csr_pem_and_der(tmp_path: Path) -> None:
    csr = _csr()
    (tmp_path / "req.csr").write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "req.der").write_bytes(csr.public_bytes(serialization.Encoding.DER))
    _rejects(str(tmp_path / "req.csr"), "req.csr", "certificate signing request")
    _rejects(str(tmp_path / "req.der"), "req.der", "certificate signing request")


def test_pkcs12(tmp_path: Path, ca: trustme.CA) -> None:
    leaf = issue("p12 leaf")
    key, cert = leaf.key, leaf.cert
    for name, enc in (
        ("bundle.p12", serialization.BestAvailableEncryption(b"pw")),
        ("open.pfx", serialization.NoEncryption()),
    ):
        (tmp_path / name).write_bytes(pkcs12.serialize_key_and_certificates(b"x", key, cert, None, enc))
        _rejects(str(tmp_path / name), name, "PKCS#12", "-nokeys")


def test_truncated_pem(tmp_path: Path, ca: trustme.CA) -> None:
    pem = _pem(ca).decode()
    (tmp_path / "cut.pem").write_text(pem[: len(pem) // 2])
    _rejects(str(tmp_path / "cut.pem"), "cut.pem", "truncated")


def test_broken_base64_among_good_blocks(tmp_path: Path, ca: trustme.CA, ca2: trustme.CA) -> None:
    good = _pem(ca).decode()
    broken = _pem(ca2).decode().replace("M", "!", 3)
    (tmp_path / "mixed.pem").write_text(good + broken)
    _rejects(str(tmp_path / "mixed.pem"), "mixed.pem", "block #2", "base64")


def test_corrupt_der_inside_pem(tmp_path: Path, ca: trustme.CA) -> None:
    lines = _pem(ca).decode().splitlines()
    lines[3] = "A" * len(lines[3])
    (tmp_path / "corrupt.pem").write_text("\n".join(lines) + "\n")
    _rejects(str(tmp_path / "corrupt.pem"), "corrupt.pem", "block #1", "corrupt")


def test_url_instead_of_path() -> None:
    _rejects("https://sly.corp.example", "this is a URL", 'fetch_chain("https://sly.corp.example"')


def test_directory_without_certificates(tmp_path: Path) -> None:
    d = tmp_path / "empty-dir"
    d.mkdir()
    (d / "notes.txt").write_text("nothing here")
    _rejects(str(d), "empty-dir", "no certificate files")


def test_file_over_the_size_limit_is_refused_without_reading(tmp_path: Path) -> None:
    p = tmp_path / "huge.pem"
    with open(p, "wb") as fh:  # sparse: 50 MB on paper, nothing written
        fh.truncate(50 * 1024 * 1024)
    assert os.path.getsize(p) > MAX_SOURCE_BYTES
    _rejects(str(p), "huge.pem", "50.0 MiB", "limit")


def test_symlink_loop(tmp_path: Path) -> None:
    a, b = tmp_path / "a.crt", tmp_path / "b.crt"
    os.symlink(b, a)
    os.symlink(a, b)
    _rejects(str(a), "a.crt", "symbolic link loop")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files regardless of permissions")
def test_unreadable_file(tmp_path: Path, ca: trustme.CA) -> None:
    p = tmp_path / "secret.crt"
    p.write_bytes(_pem(ca))
    p.chmod(0)
    _rejects(str(p), "secret.crt", "permission denied")


def test_crl(tmp_path: Path, ca: trustme.CA) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "crl")]))
        .last_update(now)
        .next_update(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "list.crl").write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    _rejects(str(tmp_path / "list.crl"), "list.crl", "revocation list")


def test_wrong_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="not int"):
        read_sources([42])  # type: ignore[list-item]


def test_nothing_given() -> None:
    with pytest.raises(CertificateSourceError, match="no certificate source"):
        read_sources([])


# --- accepted with warnings -------------------------------------------------


def test_certificate_plus_private_key_warns_and_keeps_only_the_certificate(tmp_path: Path, ca: trustme.CA) -> None:
    server = ca.issue_cert("sly.corp.example")
    p = tmp_path / "server.pem"
    p.write_bytes(server.private_key_and_cert_chain_pem.bytes())
    loaded = read_sources([str(p)])
    assert loaded.certificates
    assert any("private key" in w and "not copied" in w for w in loaded.warnings)
    for cert in loaded.certificates:
        assert "PRIVATE KEY" not in cert.pem


def test_expired_and_not_yet_valid_warn() -> None:
    now = dt.datetime.now(dt.timezone.utc)
    old = issue("Old CA", ca=True, not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1))
    future = issue("Future CA", ca=True, not_before=now + dt.timedelta(days=10), not_after=now + dt.timedelta(days=40))
    soon = issue("Soon CA", ca=True, not_after=now + dt.timedelta(days=3))
    assert any("expired on" in w for w in _one(old.pem)[0].warnings)
    assert any("not valid until" in w for w in _one(future.pem)[0].warnings)
    # How soon is "soon" is the policy's (expiry_warning_days): add, status and the start say it, not the parse.
    assert not any("expire" in w for w in _one(soon.pem)[0].warnings)


def test_leaf_certificate_warns_it_only_works_for_that_server(ca: trustme.CA) -> None:
    leaf = ca.issue_cert("sly.corp.example").cert_chain_pems[0].bytes()
    (cert,) = _one(leaf)
    assert not cert.is_ca
    assert any("not a CA certificate" in w and "exact server" in w for w in cert.warnings)
    assert cert.names == ("sly.corp.example",)


def test_ca_that_python_313_strict_checks_reject_warns() -> None:
    lax = issue("Legacy Corp CA", ca=True, strict_compliant=False)
    (cert,) = _one(lax.pem, as_is=True)  # read as it is, not as its equivalent anchor (test_equivalent_anchors)
    assert cert.is_ca
    assert any("3.13" in w and "basicConstraints is not marked critical" in w for w in cert.warnings)
    strict = issue("Modern CA", ca=True)
    assert _one(strict.pem)[0].warnings == ()
