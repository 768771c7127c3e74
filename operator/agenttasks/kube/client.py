"""The calls the operator makes to the API server, as coroutines over one aiohttp session.

Plain JSON in and out: the kubernetes client's model (de)serialisation and its thread pool
cost more CPU than everything else the operator does per call.
"""

from __future__ import annotations

import json
import socket
from typing import Any
from urllib.parse import quote, urlencode

from agenttasks.api.meta import GROUP, MANAGER_NAME, VERSION
from agenttasks.api.timefmt import format_time, utcnow
from agenttasks.kube.connection import Connection, load_api_client

__all__ = ["ApiError", "Kube", "load_api_client"]
JSON = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"
REQUEST_TIMEOUT_S = 30


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


class Kube:
    """Every write the operator makes, in one place."""

    def __init__(self, kubeconfig: str | None, connections: int = 64) -> None:
        self.connection = Connection(kubeconfig, limit=connections, timeout=REQUEST_TIMEOUT_S)
        self.instance = socket.gethostname()

    async def _call(self, method: str, path: str, body: Any = None,
                    query: dict[str, str] | None = None,
                    content_type: str = "application/json") -> JSON:
        """One request; an error answer raises ApiError with the server's reason and message.
        A 401 re-reads the credentials once (a rotated service-account token)."""
        url_query = f"?{urlencode(query)}" if query else ""
        data = None if body is None else json.dumps(body)
        for attempt in (1, 2):
            session = await self.connection.session()
            async with session.request(method, f"{self.connection.host}{path}{url_query}",
                                       data=data, headers={"Content-Type": content_type}
                                       ) as response:
                raw = await response.read()
                if response.status == 401 and attempt == 1:
                    await self.connection.reset()
                    continue
                if response.status >= 400:
                    raise _api_error(response.status, response.reason or "", raw)
                return dict(json.loads(raw)) if raw else {}
        raise AssertionError("unreachable")

    async def _get_or_none(self, path: str) -> JSON | None:
        try:
            return await self._call("GET", path)
        except ApiError as exc:
            if exc.not_found:
                return None
            raise

    async def _delete(self, path: str, propagation: str = "Background") -> None:
        try:
            await self._call("DELETE", path, {"propagationPolicy": propagation})
        except ApiError as exc:
            if not exc.not_found:
                raise

    # --- Jobs ---------------------------------------------------------------------------------
    async def create_job(self, body: JSON) -> JSON:
        # Strict: an unknown field in the user's pod template is refused (422), not dropped.
        return await self._call("POST", _path("batch/v1", "jobs", body["metadata"]["namespace"]),
                                body, query={"fieldValidation": "Strict"})

    async def get_job(self, namespace: str, name: str) -> JSON | None:
        return await self._get_or_none(_path("batch/v1", "jobs", namespace, name))

    async def delete_job(self, namespace: str, name: str) -> None:
        # Foreground: the Job stays (with a deletionTimestamp) until its pods are gone, so it
        # holds its run slot while they stop (core/slots.py, rule 1).
        await self._delete(_path("batch/v1", "jobs", namespace, name), "Foreground")

    async def set_job_suspended(self, namespace: str, name: str, suspend: bool) -> None:
        await self._call("PATCH", _path("batch/v1", "jobs", namespace, name),
                         {"spec": {"suspend": suspend}}, content_type=MERGE_PATCH)

    async def list_jobs(self, namespace: str | None, label_selector: str) -> list[JSON]:
        listing = await self._call("GET", _path("batch/v1", "jobs", namespace),
                                   query={"labelSelector": label_selector})
        return list(listing.get("items") or [])

    # --- our kinds ------------------------------------------------------------------------------
    async def patch_status(self, plural: str, namespace: str, name: str,
                           status: JSON) -> JSON:
        return await self._call("PATCH", _ours(plural, namespace, name) + "/status",
                                {"status": status}, content_type=MERGE_PATCH)

    async def get_object(self, plural: str, namespace: str, name: str) -> JSON | None:
        return await self._get_or_none(_ours(plural, namespace, name))

    async def create_object(self, plural: str, body: JSON, dry_run: bool = False) -> JSON:
        """Creates one of our objects; with ``dry_run`` the server runs admission and
        validation and stores nothing."""
        query = {"dryRun": "All"} if dry_run else None
        return await self._call("POST", _ours(plural, body["metadata"]["namespace"]), body,
                                query=query)

    async def patch_object(self, plural: str, namespace: str, name: str, patch: JSON) -> JSON:
        return await self._call("PATCH", _ours(plural, namespace, name), patch,
                                content_type=MERGE_PATCH)

    async def delete_object(self, plural: str, namespace: str, name: str) -> None:
        await self._delete(_ours(plural, namespace, name))

    async def peering_status(self, name: str, namespace: str | None) -> JSON | None:
        """The keep-alives in kopf's (Cluster)KopfPeering object, or None if it is missing."""
        plural = "kopfpeerings" if namespace else "clusterkopfpeerings"
        body = await self._get_or_none(_path("kopf.dev/v1", plural, namespace, name))
        return None if body is None else dict(body.get("status") or {})

    async def list_namespaces(self) -> list[str]:
        """The names of every namespace (kopf resolves namespace globs against these)."""
        listing = await self._call("GET", _path("v1", "namespaces"))
        return [str(item["metadata"]["name"]) for item in listing.get("items") or []]

    # --- core objects -------------------------------------------------------------------------
    async def read_secret(self, namespace: str, name: str) -> JSON | None:
        return await self._get_or_none(_path("v1", "secrets", namespace, name))

    async def create_secret(self, body: JSON) -> JSON:
        return await self._call("POST", _path("v1", "secrets", body["metadata"]["namespace"]),
                                body)

    async def patch_secret(self, namespace: str, name: str, patch: JSON) -> JSON:
        return await self._call("PATCH", _path("v1", "secrets", namespace, name), patch,
                                content_type=MERGE_PATCH)

    async def list_pods(self, namespace: str, label_selector: str) -> list[JSON]:
        listing = await self._call("GET", _path("v1", "pods", namespace),
                                   query={"labelSelector": label_selector})
        return list(listing.get("items") or [])

    async def create_config_map(self, body: JSON) -> JSON:
        return await self._call(
            "POST", _path("v1", "configmaps", body["metadata"]["namespace"]), body)

    # --- reviews (the dashboard asks the API server who a user is and what they may do) ------
    async def review_token(self, body: JSON) -> JSON:
        """Creates a TokenReview and returns it with its status."""
        return await self._call("POST", _path("authentication.k8s.io/v1", "tokenreviews"),
                                body)

    async def review_access(self, body: JSON) -> JSON:
        """Creates a SubjectAccessReview and returns it with its status."""
        return await self._call(
            "POST", _path("authorization.k8s.io/v1", "subjectaccessreviews"), body)

    # --- Events ---------------------------------------------------------------------------------
    async def list_events(self, namespace: str, kind: str, name: str,
                          limit: int = 200) -> list[JSON]:
        """The Events whose involvedObject is ``kind`` ``name`` in ``namespace``."""
        selector = f"involvedObject.kind={kind},involvedObject.name={name}"
        listing = await self._call("GET", _path("v1", "events", namespace),
                                   query={"fieldSelector": selector, "limit": str(limit)})
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
        await self._call("POST", _path("v1", "events", meta["namespace"]), event)

    async def close(self) -> None:
        await self.connection.close()


def _path(group_version: str, plural: str, namespace: str | None = None,
          name: str | None = None) -> str:
    base = f"/api/{group_version}" if "/" not in group_version else f"/apis/{group_version}"
    if namespace:
        base += f"/namespaces/{quote(namespace, safe='')}"
    base += f"/{plural}"
    return base + (f"/{quote(name, safe='')}" if name else "")


def _ours(plural: str, namespace: str, name: str | None = None) -> str:
    return _path(f"{GROUP}/{VERSION}", plural, namespace, name)


def _api_error(status: int, http_reason: str, raw: bytes) -> ApiError:
    message, reason = http_reason, http_reason
    try:
        body = json.loads(raw or b"{}")
        message, reason = body.get("message", message), body.get("reason", reason)
    except (ValueError, AttributeError):
        message = raw[:300].decode(errors="replace") or message
    return ApiError(status, str(reason), str(message))
