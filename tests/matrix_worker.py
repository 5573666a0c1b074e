"""What a process-pool worker runs in the client matrix: it must be importable, not __main__'s."""

from __future__ import annotations


def fetch(url: str) -> str:
    import requests

    return requests.get(url, timeout=10).text
