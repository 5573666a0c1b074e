"""botocore (boto3, the AWS CLI): AWS_CA_BUNDLE, else the profile's ca_bundle, else REQUESTS_CA_BUNDLE, else certifi."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from .._objects import instances_of
from .base import CaPath, CaSet, CaVariable, ClientTrust, Family, TrustView, certifi_set, importable

__all__ = ["FAMILY"]


def aws_ca_bundle() -> str | None:
    """`ca_bundle` of the AWS profile in use (~/.aws/config or AWS_CONFIG_FILE), if set."""
    import configparser

    path = os.environ.get("AWS_CONFIG_FILE") or str(Path.home() / ".aws" / "config")
    profile = os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE") or "default"
    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return None
    for section in (profile if profile == "default" else f"profile {profile}", profile):
        if parser.has_option(section, "ca_bundle"):
            return parser.get(section, "ca_bundle").strip() or None
    return None


def _base(original: Mapping[str, str | None]) -> CaSet | None:
    configured = aws_ca_bundle()
    if configured:
        return CaSet.of_files(f"AWS config ca_bundle: {configured}", os.path.expanduser(configured))
    preset = original.get("REQUESTS_CA_BUNDLE")
    return CaSet.of_files(f"preset REQUESTS_CA_BUNDLE: {preset}", preset) if preset else certifi_set()


def _rows(view: TrustView) -> list[ClientTrust]:
    if not importable("botocore"):
        return []
    value = os.environ.get("AWS_CA_BUNDLE") or os.environ.get("REQUESTS_CA_BUNDLE")
    if value in view.ours:
        return [ClientTrust("botocore", f"AWS_CA_BUNDLE: {os.path.basename(value or '')}", True,
                            "sessions made before add were repointed")]  # fmt: skip
    if value:
        return [ClientTrust("botocore", f"AWS_CA_BUNDLE: {value}", False, "names a file of its own")]
    return [ClientTrust("botocore", "certifi", False, "nothing added" if not view.ours else "AWS_CA_BUNDLE is unset")]


def _sessions() -> list[object]:
    """botocore's HTTP sessions alive now: each fixed its CA path (`verify`) when it was made."""
    module = sys.modules.get("botocore.httpsession")
    session_class = getattr(module, "URLLib3Session", None)
    return list(instances_of(session_class)) if isinstance(session_class, type) else []


FAMILY = Family(
    name="botocore",
    order=40,
    variables=(CaVariable("AWS_CA_BUNDLE", "boto3, AWS CLI", _base),),
    rows=_rows,
    # ``True`` is botocore's "certifi, looked up at each request": a default where the base is certifi.
    ca_paths=(CaPath("botocore session", _sessions, "_verify", "AWS_CA_BUNDLE", certifi_marker=True),),
)
