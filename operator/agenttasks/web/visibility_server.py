"""The visibility API's HTTPS port (web/visibility_api.py), opened once the kube-apiserver's
front-proxy configuration has been read, and kept in step with it.

The configuration (the front-proxy CA, the allowed names, the header names) is read from
kube-system/extension-apiserver-authentication, again every few minutes: an operator that
started before the API server published it, or whose ConfigMap it cannot read yet (RBAC
applied later), starts serving when it can; a CA added by a rotation is trusted from the
next read on, and a changed list of allowed names applies at once. A CA taken out of the
ConfigMap stays trusted until the operator restarts (an SSL context cannot forget one).
Until then nothing is served and the log says why, once; the tasks do not depend on it.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from aiohttp import web

from agenttasks.core.front_proxy import RequestHeaderConfig, parse_config_map

from .server import serve
from .views import QueueProvider
from .visibility_api import VisibilityApi, tls_context

log = logging.getLogger("agenttasks.visibility")
RETRY_S = 10.0  # while nothing is served
REFRESH_S = 300.0  # once it is

ReadConfig = Callable[[], Awaitable[Mapping[str, str]]]
"""The ConfigMap's data; raises when it cannot be read."""


class VisibilityServer:
    def __init__(self, port: int, cert_dir: Path, read: ReadConfig, provider: QueueProvider,
                 ready: Callable[[], bool], retry_s: float = RETRY_S,
                 refresh_s: float = REFRESH_S) -> None:
        self.port, self.cert_dir, self.read = port, cert_dir, read
        self.provider, self.ready = provider, ready
        self.retry_s, self.refresh_s = retry_s, refresh_s
        self.api: VisibilityApi | None = None
        self.runner: web.AppRunner | None = None
        self._context: ssl.SSLContext | None = None
        self._trusted: set[str] = set()

    @property
    def serving(self) -> bool:
        return self.runner is not None

    async def run(self) -> None:
        said = ""
        while True:
            try:
                await self._follow(parse_config_map(await self.read()))
                said = ""
            except Exception as exc:  # said once per cause, tried again
                if str(exc) != said:
                    log.error("visibility API (kubectl get pendingtasks) %s: %s",
                              "configuration not updated" if self.serving else "not served",
                              exc)
                    said = str(exc)
            await asyncio.sleep(self.refresh_s if self.serving else self.retry_s)

    async def _follow(self, config: RequestHeaderConfig) -> None:
        if self.api is None or self._context is None:
            context = tls_context(self.cert_dir, config)
            api = VisibilityApi(config, self.provider, self.ready)
            self.runner = await serve(api.build_app(), self.port, context)
            self.api, self._context, self._trusted = api, context, {config.client_ca}
            log.info("visibility API on HTTPS port %d", self.port)
            return
        if config == self.api.config:
            return
        if config.client_ca not in self._trusted:
            self._context.load_verify_locations(cadata=config.client_ca)
            self._trusted.add(config.client_ca)
        self.api.config = config
        log.info("visibility API follows a changed front-proxy configuration")

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
