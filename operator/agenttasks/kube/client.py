"""The calls the operator makes to the API server, as coroutines over the kubernetes client.

The synchronous client runs in a private thread pool, so slow calls never block the loop.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from agenttasks.api.meta import GROUP, MANAGER_NAME, VERSION
from agenttasks.kube.timefmt import format_time, utcnow


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
        return self.status == 422


def _api_error(exc: ApiException) -> ApiError:
    message, reason = str(exc.reason), str(exc.reason)
    try:
        body = json.loads(exc.body or "{}")
        message, reason = body.get("message", message), body.get("reason", reason)
    except ValueError:
        pass
    return ApiError(int(exc.status or 0), reason, message)


def load_api_client(kubeconfig: str | None = None) -> client.ApiClient:
    configuration = client.Configuration()
    if kubeconfig or os.environ.get("KUBECONFIG") or not os.environ.get(
            "KUBERNETES_SERVICE_HOST"):
        config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    else:
        config.load_incluster_config(client_configuration=configuration)
    configuration.connection_pool_maxsize = 64
    return client.ApiClient(configuration)


class Kube:
    """Every write the operator makes, in one place."""

    def __init__(self, api_client: client.ApiClient, workers: int = 16) -> None:
        self.api_client = api_client
        self.batch = client.BatchV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.authn = client.AuthenticationV1Api(api_client)
        self.authz = client.AuthorizationV1Api(api_client)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kube")
        self.instance = socket.gethostname()

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Calls the client and returns the response as plain JSON. The client's own model
        deserialisation is skipped: it costs more CPU than everything else we do per call."""
        loop = asyncio.get_running_loop()

        def run() -> dict[str, Any]:
            try:
                response = fn(*args, _request_timeout=30, _preload_content=False, **kwargs)
            except ApiException as exc:
                raise _api_error(exc) from None
            except ValidationError as exc:
                # The client checks bodies against its models before sending them: a pod
                # template without containers, or with an unknown field, never reaches the
                # server. It is the same refusal as the server's 422, and must be treated so.
                raise ApiError(422, "Invalid", f"refused by the client: {exc}") from None
            data = response.data
            return dict(json.loads(data)) if data else {}

        return await loop.run_in_executor(self._pool, run)

    # --- Jobs ---------------------------------------------------------------------------------
    async def create_job(self, body: dict[str, Any]) -> dict[str, Any]:
        ns = body["metadata"]["namespace"]
        return await self._call(self.batch.create_namespaced_job, ns, body)

    async def get_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return await self._call(self.batch.read_namespaced_job, name, namespace)
        except ApiError as exc:
            if exc.not_found:
                return None
            raise

    async def delete_job(self, namespace: str, name: str) -> None:
        try:
            await self._call(self.batch.delete_namespaced_job, name, namespace,
                             propagation_policy="Background")
        except ApiError as exc:
            if not exc.not_found:
                raise

    async def set_job_suspended(self, namespace: str, name: str, suspend: bool) -> None:
        await self._call(self.batch.patch_namespaced_job, name, namespace,
                         {"spec": {"suspend": suspend}})

    # --- our kinds ------------------------------------------------------------------------------
    async def patch_status(self, plural: str, namespace: str, name: str,
                           status: dict[str, Any]) -> dict[str, Any]:
        return await self._call(
            self.custom.patch_namespaced_custom_object_status, GROUP, VERSION, namespace,
            plural, name, {"status": status})

    async def get_object(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return await self._call(self.custom.get_namespaced_custom_object, GROUP, VERSION,
                                    namespace, plural, name)
        except ApiError as exc:
            if exc.not_found:
                return None
            raise

    async def create_object(self, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._call(self.custom.create_namespaced_custom_object, GROUP, VERSION,
                                body["metadata"]["namespace"], plural, body)

    async def patch_object(self, plural: str, namespace: str, name: str,
                           patch: dict[str, Any]) -> dict[str, Any]:
        return await self._call(self.custom.patch_namespaced_custom_object, GROUP, VERSION,
                                namespace, plural, name, patch)

    async def delete_object(self, plural: str, namespace: str, name: str) -> None:
        try:
            await self._call(self.custom.delete_namespaced_custom_object, GROUP, VERSION,
                             namespace, plural, name, propagation_policy="Background")
        except ApiError as exc:
            if not exc.not_found:
                raise

    async def list_jobs(self, namespace: str | None, label_selector: str) -> list[dict[str, Any]]:
        if namespace:
            listing = await self._call(self.batch.list_namespaced_job, namespace,
                                       label_selector=label_selector)
        else:
            listing = await self._call(self.batch.list_job_for_all_namespaces,
                                       label_selector=label_selector)
        return list(listing.get("items") or [])

    async def peering_status(self, name: str, namespace: str | None) -> dict[str, Any] | None:
        """The keep-alives in kopf's (Cluster)KopfPeering object, or None if it is missing."""
        try:
            if namespace:
                body = await self._call(self.custom.get_namespaced_custom_object, "kopf.dev",
                                        "v1", namespace, "kopfpeerings", name)
            else:
                body = await self._call(self.custom.get_cluster_custom_object, "kopf.dev",
                                        "v1", "clusterkopfpeerings", name)
        except ApiError as exc:
            if exc.not_found:
                return None
            raise
        return dict(body.get("status") or {})

    # --- core objects -------------------------------------------------------------------------
    async def read_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return await self._call(self.core.read_namespaced_secret, name, namespace)
        except ApiError as exc:
            if exc.not_found:
                return None
            raise

    async def create_secret(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self._call(self.core.create_namespaced_secret,
                                body["metadata"]["namespace"], body)

    async def patch_secret(self, namespace: str, name: str,
                           patch: dict[str, Any]) -> dict[str, Any]:
        return await self._call(self.core.patch_namespaced_secret, name, namespace, patch)

    async def list_pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        listing = await self._call(self.core.list_namespaced_pod, namespace,
                                   label_selector=label_selector)
        return list(listing.get("items") or [])

    async def create_config_map(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self._call(self.core.create_namespaced_config_map,
                                body["metadata"]["namespace"], body)

    # --- reviews (the dashboard asks the API server who a user is and what they may do) ------
    async def review_token(self, body: dict[str, Any]) -> dict[str, Any]:
        """Creates a TokenReview and returns it with its status."""
        return await self._call(self.authn.create_token_review, body)

    async def review_access(self, body: dict[str, Any]) -> dict[str, Any]:
        """Creates a SubjectAccessReview and returns it with its status."""
        return await self._call(self.authz.create_subject_access_review, body)

    # --- Events ---------------------------------------------------------------------------------
    async def list_events(self, namespace: str, kind: str, name: str,
                          limit: int = 200) -> list[dict[str, Any]]:
        """The Events whose involvedObject is ``kind`` ``name`` in ``namespace``."""
        selector = f"involvedObject.kind={kind},involvedObject.name={name}"
        listing = await self._call(self.core.list_namespaced_event, namespace,
                                   field_selector=selector, limit=limit)
        return [dict(item) for item in listing.get("items") or []]

    async def emit(self, involved: dict[str, Any], type_: str, reason: str,
                   message: str) -> None:
        now = format_time(utcnow())
        meta = involved["metadata"]
        event = {
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {"apiVersion": involved["apiVersion"], "kind": involved["kind"],
                               "name": meta["name"], "namespace": meta["namespace"],
                               "uid": meta.get("uid")},
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": MANAGER_NAME},
            "reportingComponent": f"{GROUP}/operator",
            "reportingInstance": self.instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        await self._call(self.core.create_namespaced_event, meta["namespace"], event)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.api_client.close()
