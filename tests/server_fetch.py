"""A test-only Jupyter server extension: fetch a URL with the server process's own HTTPS clients."""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.authorizer import Authorizer
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web


class FetchHandler(APIHandler):  # type: ignore[misc]
    @web.authenticated  # type: ignore[misc]
    async def get(self) -> None:
        url, client = self.get_argument("url"), self.get_argument("client")
        try:
            status = await _fetch(client, url)
        except Exception as exc:  # noqa: BLE001 - the test reads what failed
            self.finish({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
            return
        self.finish({"ok": True, "status": status})


async def _fetch(client: str, url: str) -> int:
    if client == "tornado":
        from tornado.httpclient import AsyncHTTPClient

        response = await AsyncHTTPClient().fetch(url, raise_error=False)
        if response.code == 599 and response.error is not None:
            raise response.error
        return response.code
    if client == "httpx":
        import httpx

        async with httpx.AsyncClient() as http:
            return (await http.get(url)).status_code
    if client == "requests":
        import asyncio

        import requests

        return (await asyncio.to_thread(requests.get, url, timeout=30)).status_code
    raise ValueError(f"unknown client {client}")


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    return [{"module": "server_fetch"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    base = serverapp.web_app.settings["base_url"]
    serverapp.web_app.add_handlers(".*$", [(url_path_join(base, "test-fetch"), FetchHandler)])


class ReadOnlyAuthorizer(Authorizer):  # type: ignore[misc]
    """Users may read everything and change nothing (a read-only collaborator)."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return action == "read"
