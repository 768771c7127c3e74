"""The aiohttp session to the API server, built from the kubeconfig rule (kube/kubeconfig.py),
and the error of an API call."""

from __future__ import annotations

import functools
import json
from typing import Any

import aiohttp
from yarl import URL

from agenttasks import __version__

from .kubeconfig import Credentials, Loader, load_credentials


class ApiError(Exception):
    """An API call failed; ``status`` is the HTTP status and ``message`` the server's text."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status, self.reason, self.message = status, reason, message

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def invalid(self) -> bool:
        """The server refuses this body: 422, or 400 for one it cannot decode (e.g. an
        unknown field under fieldValidation=Strict)."""
        return self.status in (400, 422)


def api_error(status: int, http_reason: str, raw: bytes) -> ApiError:
    """The error of an answer, with the server's reason and message when it sent a Status."""
    message, reason = http_reason, http_reason
    try:
        body = json.loads(raw or b"{}")
        message, reason = body.get("message", message), body.get("reason", reason)
    except (ValueError, AttributeError):
        message = raw[:300].decode(errors="replace") or message
    return ApiError(status, str(reason), str(message))


# --- the session --------------------------------------------------------------------------------
def user_agent() -> str:
    """``agenttasks/<version>``. The API server names the field manager of a write without
    one after the User-Agent's part before the slash: aiohttp's own made every status the
    operator wrote show ``manager: Python`` in managedFields."""
    return f"agenttasks/{__version__}"


def client_session(credentials: Credentials, limit: int = 100,
                   timeout: float | None = None) -> aiohttp.ClientSession:
    """An aiohttp session that authenticates as ``credentials`` on every request, through
    their proxy, checking the server's certificate against their tls-server-name."""
    return aiohttp.ClientSession(
        headers={"User-Agent": user_agent(), **credentials.headers()},
        connector=aiohttp.TCPConnector(ssl=credentials.ssl_context(), limit=limit),
        timeout=aiohttp.ClientTimeout(total=timeout, sock_connect=10),
        request_class=_request_class(credentials.tls_server_name, credentials.proxy_url))


def _request_class(server_hostname: str | None, proxy: str | None
                   ) -> type[aiohttp.ClientRequest]:
    """Requests with these defaults, so that every caller of the session (the client, the
    informers) gets them without passing them on each call."""
    proxy_url = URL(proxy) if proxy else None
    if server_hostname is None and proxy_url is None:
        return aiohttp.ClientRequest

    class Request(aiohttp.ClientRequest):
        def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
            if server_hostname and kwargs.get("server_hostname") is None:
                kwargs["server_hostname"] = server_hostname
            if proxy_url is not None and kwargs.get("proxy") is None:
                kwargs["proxy"] = proxy_url
            super().__init__(method, url, **kwargs)

    return Request



class Connection:
    """An aiohttp session from the kubeconfig rule, rebuilt after failures so that a rotated
    service-account token or certificate is picked up. ``loader`` replaces the rule (the CLI
    passes the credentials it has already read)."""

    def __init__(self, kubeconfig: str | None, limit: int = 100,
                 timeout: float | None = None, *, context: str | None = None,
                 loader: Loader | None = None) -> None:
        self.kubeconfig, self.limit, self.timeout = kubeconfig, limit, timeout
        self.load: Loader = loader or functools.partial(load_credentials, kubeconfig, context)
        self._session: aiohttp.ClientSession | None = None
        self.host = ""
        self.credentials: Credentials | None = None
        """Those of the current session."""

    async def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            credentials = self.load()
            self.credentials, self.host = credentials, credentials.server.rstrip("/")
            self._session = client_session(credentials, self.limit, self.timeout)
        return self._session

    async def reset(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def close(self) -> None:
        await self.reset()
