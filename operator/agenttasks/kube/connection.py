"""One aiohttp session to the API server, from our kubeconfig choice (flag, $KUBECONFIG,
in-cluster), shared by the operator's calls; informers each keep their own."""

from __future__ import annotations

import os
import ssl

import aiohttp
from kubernetes import client, config


def load_api_client(kubeconfig: str | None = None) -> client.ApiClient:
    configuration = client.Configuration()
    if kubeconfig or os.environ.get("KUBECONFIG") or not os.environ.get(
            "KUBERNETES_SERVICE_HOST"):
        config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    else:
        config.load_incluster_config(client_configuration=configuration)
    configuration.connection_pool_maxsize = 64
    return client.ApiClient(configuration)


class Connection:
    """An aiohttp session from our kubeconfig choice, rebuilt after failures so that a
    rotated service-account token or certificate is picked up."""

    def __init__(self, kubeconfig: str | None, limit: int = 100,
                 timeout: float | None = None) -> None:
        self.kubeconfig, self.limit, self.timeout = kubeconfig, limit, timeout
        self._session: aiohttp.ClientSession | None = None
        self.host = ""

    async def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            configuration = load_api_client(self.kubeconfig).configuration
            self.host = str(configuration.host).rstrip("/")
            context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
            if configuration.cert_file:
                context.load_cert_chain(configuration.cert_file, configuration.key_file)
            if not configuration.verify_ssl:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            headers = {"Accept": "application/json"}
            token = configuration.get_api_key_with_prefix("BearerToken") or \
                configuration.get_api_key_with_prefix("authorization")
            if token:
                headers["Authorization"] = str(token)
            self._session = aiohttp.ClientSession(
                headers=headers, connector=aiohttp.TCPConnector(ssl=context, limit=self.limit),
                timeout=aiohttp.ClientTimeout(total=self.timeout, sock_connect=10))
        return self._session

    async def reset(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def close(self) -> None:
        await self.reset()


