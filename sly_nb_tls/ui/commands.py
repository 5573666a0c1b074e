"""Argument pieces the magic and the CLI share, so both front-ends say the same thing the same way.

Only argparse: the magic builds its parsers when ``%load_ext`` imports it, which
must stay fast.
"""

from __future__ import annotations

import argparse

__all__ = ["add_route_arguments", "add_token_argument", "proxy_from_arguments"]


def add_route_arguments(parser: argparse.ArgumentParser) -> None:
    """``--proxy URL`` / ``--direct`` (one or the other)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--proxy", metavar="URL", help="through this proxy, not the one requests would choose")
    group.add_argument("--direct", action="store_true", help="connect directly, whatever HTTPS_PROXY says")


def proxy_from_arguments(args: argparse.Namespace) -> str | None:
    """The `proxy` argument of test/fetch: "" for --direct, None for "as requests would"."""
    return "" if args.direct else args.proxy


def add_token_argument(parser: argparse.ArgumentParser) -> None:
    """``--token``: API_TOKEN goes to SERVER_ADDRESS only, unless the user names another URL for it."""
    parser.add_argument(
        "--token", action="store_true", help="send API_TOKEN to URL even when URL is not SERVER_ADDRESS's host and port"
    )
