"""gRPC in this process: new secure channels made without roots trust the extras after `add`, and not after `reset`.

gRPC reads its default roots once per process, at its first secure channel; `add` wraps
``grpc.ssl_channel_credentials`` so a call without roots gets the variable's bundle (gRPC's roots, or
the preset file, plus the extras).  Each test first opens a channel without roots, so gRPC has read
its roots before `add`, as in a kernel that used gRPC already.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import sly_nb_tls
from sly_nb_tls.demo import DemoServer

from .helpers import grpc_echo

grpc = pytest.importorskip("grpc")


@pytest.fixture(scope="module")
def echo() -> Iterator[tuple[DemoServer, str]]:
    with DemoServer() as server, grpc_echo(server) as target:
        yield server, target


def call(target: str, credentials: object | None = None) -> str:
    """One RPC on a new secure channel: "ok", or "cert-fail" when the server's chain is not trusted."""
    creds = credentials if credentials is not None else grpc.ssl_channel_credentials()
    with grpc.secure_channel(target, creds) as channel:
        try:
            answer = channel.unary_unary("/demo.Echo/Ping")(b"ping", timeout=10)
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.UNAVAILABLE, exc  # the handshake failed: no other failure
            return "cert-fail"
    assert answer == b"ping"
    return "ok"


def test_new_channels_without_roots_trust_the_extras_only_while_added(
    ca_env: bool, echo: tuple[DemoServer, str]
) -> None:
    server, target = echo
    original = grpc.ssl_channel_credentials
    assert call(target) == "cert-fail"  # gRPC has read its roots now

    result = sly_nb_tls.add_certs(server.root_path)
    assert grpc.ssl_channel_credentials is not original
    assert "grpc.ssl_channel_credentials" in sly_nb_tls.status().hooks
    assert result.added
    assert call(target) == "ok"
    assert call(target, grpc.ssl_channel_credentials(root_certificates=None)) == "ok"

    sly_nb_tls.reset()
    assert grpc.ssl_channel_credentials is original
    assert call(target) == "cert-fail"


def test_roots_passed_explicitly_are_left_alone(echo: tuple[DemoServer, str]) -> None:
    server, target = echo
    with DemoServer() as other:
        sly_nb_tls.add_certs(server.root_path)
        own = other.pki.root.pem.encode()  # another CA: the caller chose it, and keeps it
        assert call(target, grpc.ssl_channel_credentials(own)) == "cert-fail"
        assert call(target, grpc.ssl_channel_credentials(root_certificates=own)) == "cert-fail"
        assert call(target, grpc.ssl_channel_credentials(server.pki.root.pem.encode())) == "ok"


def test_a_later_add_reaches_channels_made_without_roots_too(echo: tuple[DemoServer, str]) -> None:
    server, target = echo
    with DemoServer() as first:
        sly_nb_tls.add_certs(first.root_path)
        assert call(target) == "cert-fail"
        sly_nb_tls.add_certs(server.root_path)  # the bundle is rewritten: the wrapper reads it at each call
        assert call(target) == "ok"
        sly_nb_tls.remove(server.root_path)
        assert call(target) == "cert-fail"


def test_status_says_channels_made_before_add_keep_their_roots(echo: tuple[DemoServer, str]) -> None:
    server, _ = echo
    sly_nb_tls.add_certs(server.root_path)
    (row,) = [c for c in sly_nb_tls.status(clients=True).clients if c.client == "grpc"]
    assert row.sees_extras and "made before add keep their roots" in row.why
