"""Whether a proxy re-signs the chain: compare it with the direct chain, or recognise an inspection product."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .results import Interception

if TYPE_CHECKING:
    from .._certs import Certificate

__all__ = ["INSPECTION_PRODUCTS", "detect_interception", "inspection_product"]

#: Issuer-name fragments of TLS-inspection products (lower case) -> the product.  A match
#: alone is a hint: many companies sign with a CA of their own name.
INSPECTION_PRODUCTS = (
    (("zscaler",), "Zscaler"),
    (("netskope",), "Netskope"),
    (("palo alto", "paloalto", "pan-os"), "Palo Alto Networks"),
    (("fortigate", "fortinet"), "Fortinet FortiGate"),
    (("cisco umbrella", "opendns"), "Cisco Umbrella"),
    (("blue coat", "bluecoat", "proxysg"), "Blue Coat / Symantec ProxySG"),
    (("forcepoint", "websense"), "Forcepoint / Websense"),
    (("sophos", "securityappliance_ssl_ca"), "Sophos"),
    (("check point", "checkpoint"), "Check Point"),
    (("cloudflare managed", "cloudflare gateway", "gateway ca - cloudflare"), "Cloudflare Gateway"),
    (("iboss",), "iboss"),
    (("mitmproxy",), "mitmproxy"),
    (("avast", "avg web", "norton web", "norton mail"), "Avast / AVG / Norton antivirus"),
    (("kaspersky",), "Kaspersky antivirus"),
    (("eset ssl filter", "eset"), "ESET antivirus"),
    (("bitdefender",), "Bitdefender antivirus"),
)


def inspection_product(chain: list[Certificate]) -> str | None:
    """The inspection product whose CA names appear in `chain`'s issuers, if any."""
    names = " | ".join(n for c in chain for n in (c.issuer, c.subject)).lower()
    for fragments, product in INSPECTION_PRODUCTS:
        if any(f in names for f in fragments):
            return product
    return None


def detect_interception(
    seen: list[Certificate], direct: list[Certificate] | None, *, proxied: bool
) -> Interception | None:
    """Is the chain the client sees (`seen`) the server's own?

    `direct` is the chain of a direct connection to the same server, or None
    where that path could not be reached.  A different leaf key or issuer
    means something in between re-signed it; without the direct chain, only
    a known product's name can hint at it.
    """
    if not seen or not proxied:
        return None
    leaf, top = seen[0], seen[-1]
    ca = top.common_name if top.self_signed else top.issuer_common_name
    product = inspection_product(seen)
    if direct:
        if leaf.spki_sha256 == direct[0].spki_sha256 and leaf.issuer == direct[0].issuer:
            return None
        return Interception(
            ca, product, "the chain through the proxy differs from the server's own (direct) chain: "
            f'the certificate for the server is signed by "{leaf.issuer_common_name}" instead of '
            f'"{direct[0].issuer_common_name}"', hint_only=False,
        )  # fmt: skip
    if product is not None:
        return Interception(
            ca, product, f"the issuer's name matches {product} (a hint only: the direct path to the server "
            "could not be reached to compare chains)", hint_only=True,
        )  # fmt: skip
    return None
