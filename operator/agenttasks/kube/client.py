"""The calls the operator makes to the API server, as coroutines over one aiohttp session.

Plain JSON in and out: the kubernetes client's model (de)serialisation and its thread pool
cost more CPU than everything else the operator does per call.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp

from agenttasks.api.kueue import KUEUE_GROUP, LABEL_JOB_UID, WORKLOAD_VERSIONS
from agenttasks.api.meta import GROUP, MANAGER_NAME, VERSION
from agenttasks.api.timefmt import format_time, utcnow
from agenttasks.kube.connection import ApiError, Connection, api_error
from agenttasks.kube.kubeconfig import Loader
from agenttasks.kube.watching import Resource, WatchEvent, watch

__all__ = ["ApiError", "Kube"]
JSON = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"
REQUEST_TIMEOUT_S = 30
LOG_TIMEOUT_S = 60
CRDS = "apiextensions.k8s.io/v1"


class Kube:
    """Every call the operator and the CLI make, in one place. ``context`` and ``loader``
    are passed on to the Connection (the CLI's ``--context``, or credentials already read)."""

    def __init__(self, kubeconfig: str | None, connections: int = 64, *,
                 context: str | None = None, loader: Loader | None = None) -> None:
        self.connection = Connection(kubeconfig, limit=connections, timeout=REQUEST_TIMEOUT_S,
                                     context=context, loader=loader)
        self.instance = socket.gethostname()

    async def _call(self, method: str, path: str, body: Any = None,
                    query: dict[str, str] | None = None,
                    content_type: str = "application/json",
                    timeout: float | None = None) -> JSON:
        """One request; an error answer raises ApiError with the server's reason and message.
        A 401 re-reads the credentials once (a rotated service-account token)."""
        url_query = f"?{urlencode(query)}" if query else ""
        data = None if body is None else json.dumps(body)
        for attempt in (1, 2):
            session = await self.connection.session()
            limit = aiohttp.ClientTimeout(total=timeout, sock_connect=10) if timeout else \
                session.timeout
            async with session.request(method, f"{self.connection.host}{path}{url_query}",
                                       data=data, headers={"Content-Type": content_type},
                                       timeout=limit) as response:
                raw = await response.read()
                if response.status == 401 and attempt == 1:
                    await self.connection.reset()
                    continue
                if response.status >= 400:
                    raise api_error(response.status, response.reason or "", raw)
                return dict(json.loads(raw)) if raw else {}
        raise AssertionError("unreachable")

    async def _get_or_none(self, path: str) -> JSON | None:
        try:
            return await self._call("GET", path)
        except ApiError as exc:
            if exc.not_found:
                return None
            raise

    async def _delete(self, path: str, propagation: str = "Background",
                      uid: str | None = None) -> None:
        """Deletes; gone already (404) is success. ``uid``: only the object of that uid
        (another one of the same name answers 409)."""
        options: JSON = {"propagationPolicy": propagation}
        if uid is not None:
            options["preconditions"] = {"uid": uid}
        try:
            await self._call("DELETE", path, options)
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

    # --- Kueue ---------------------------------------------------------------------------------
    async def set_workload_active(self, namespace: str, job_uid: str, active: bool
                                  ) -> int | None:
        """Sets spec.active of Kueue's Workloads of the Job ``job_uid`` (found by Kueue's
        job-uid label), at the newest Workload version served; returns how many it
        patched (0: Kueue has not made the Workload yet), None when no version is served
        (Kueue is not installed)."""
        for version in WORKLOAD_VERSIONS:
            path = _path(f"{KUEUE_GROUP}/{version}", "workloads", namespace)
            try:
                listing = await self._call("GET", path,
                                           query={"labelSelector": f"{LABEL_JOB_UID}={job_uid}"})
            except ApiError as exc:
                if exc.not_found:
                    continue  # this version is not served
                raise
            items = list(listing.get("items") or [])
            for item in items:
                await self._call("PATCH", f"{path}/{quote(item['metadata']['name'])}",
                                 {"spec": {"active": active}}, content_type=MERGE_PATCH)
            return len(items)
        return None

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

    async def delete_object(self, plural: str, namespace: str, name: str, *,
                            uid: str | None = None, propagation: str = "Background") -> None:
        await self._delete(_ours(plural, namespace, name), propagation, uid)

    async def list_objects(self, plural: str, namespace: str | None,
                           label_selector: str = "") -> JSON:
        """The list of our objects as the server sent it (``items``, and
        ``metadata.resourceVersion`` to watch from); every namespace when None."""
        return await self.list_resource(f"{GROUP}/{VERSION}", plural, namespace,
                                        label_selector)

    def watch_objects(self, plural: str, namespace: str | None, resource_version: str,
                      label_selector: str = "") -> AsyncIterator[WatchEvent]:
        """Every change of our objects after ``resource_version``, until the caller stops:
        follows bookmarks, resumes where the server ends a watch, re-lists after 410 Gone
        (a RELISTED event)."""
        return watch(self.connection, Resource(GROUP, VERSION, plural), namespace,
                     resource_version, label_selector)

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

    async def get_pod(self, namespace: str, name: str) -> JSON | None:
        return await self._get_or_none(_path("v1", "pods", namespace, name))

    async def list_pods(self, namespace: str, label_selector: str,
                        limit: int | None = None) -> list[JSON]:
        """The pods ``label_selector`` selects; with ``limit``, at most that many (the first
        page only)."""
        query = {"labelSelector": label_selector}
        if limit is not None:
            query["limit"] = str(limit)
        listing = await self._call("GET", _path("v1", "pods", namespace), query=query)
        return list(listing.get("items") or [])

    async def get_config_map(self, namespace: str, name: str) -> JSON | None:
        return await self._get_or_none(_path("v1", "configmaps", namespace, name))

    async def create_config_map(self, body: JSON) -> JSON:
        return await self._call(
            "POST", _path("v1", "configmaps", body["metadata"]["namespace"]), body)

    async def pod_log(self, namespace: str, name: str, container: str | None = None,
                      follow: bool = False) -> AsyncIterator[bytes]:
        """The log of one container, in chunks as they arrive; with ``follow`` until the
        container ends (or the caller stops). An error answer raises ApiError: a 5xx when
        the API server could not get the log from the node's kubelet."""
        query = {"container": container} if container else {}
        if follow:
            query["follow"] = "true"
        session = await self.connection.session()
        # No time limit when following: a quiet agent is not a dead connection.
        limit = aiohttp.ClientTimeout(total=None if follow else LOG_TIMEOUT_S, sock_connect=10)
        url = f"{self.connection.host}{_path('v1', 'pods', namespace, name)}/log"
        async with session.get(url, params=query, timeout=limit) as response:
            if response.status >= 400:
                raise api_error(response.status, response.reason or "", await response.read())
            async for chunk in response.content.iter_any():
                yield chunk

    # --- anything, for the CLI and installing CRDs ----------------------------------------
    async def list_resource(self, group_version: str, plural: str,
                            namespace: str | None = None, label_selector: str = "",
                            limit: int | None = None) -> JSON:
        """The list object of any resource (``v1`` or ``group/version``)."""
        query = {"labelSelector": label_selector} if label_selector else {}
        if limit is not None:
            query["limit"] = str(limit)
        return await self._call("GET", _path(group_version, plural, namespace), query=query)

    async def version(self, timeout: float | None = None) -> JSON:
        """The API server's /version: whether it answers, and as what."""
        return await self._call("GET", "/version", timeout=timeout)

    async def get_crd(self, name: str) -> JSON | None:
        return await self._get_or_none(_path(CRDS, "customresourcedefinitions", name=name))

    async def create_crd(self, body: JSON) -> JSON:
        return await self._call("POST", _path(CRDS, "customresourcedefinitions"), body)

    async def replace_crd(self, body: JSON) -> JSON:
        """PUT: ``body`` carries the resourceVersion it replaces."""
        return await self._call("PUT", _path(CRDS, "customresourcedefinitions",
                                             name=body["metadata"]["name"]), body)

    # --- reviews (who a caller is and what they may do; who the operator itself is) ---------
    async def review_token(self, body: JSON) -> JSON:
        """Creates a TokenReview and returns it with its status."""
        return await self._call("POST", _path("authentication.k8s.io/v1", "tokenreviews"),
                                body)

    async def review_access(self, body: JSON) -> JSON:
        """Creates a SubjectAccessReview and returns it with its status."""
        return await self._call(
            "POST", _path("authorization.k8s.io/v1", "subjectaccessreviews"), body)

    async def review_self(self, body: JSON) -> JSON:
        """Creates a SelfSubjectReview: who the API server takes this client for."""
        return await self._call("POST", _path("authentication.k8s.io/v1",
                                              "selfsubjectreviews"), body)

    # --- Events ---------------------------------------------------------------------------------
    async def list_events(self, namespace: str, kind: str, name: str,
                          limit: int = 200) -> list[JSON]:
        """The Events whose involvedObject is ``kind`` ``name`` in ``namespace``."""
        selector = f"involvedObject.kind={kind},involvedObject.name={name}"
        listing = await self._call("GET", _path("v1", "events", namespace),
                                   query={"fieldSelector": selector, "limit": str(limit)})
        return [dict(item) for item in listing.get("items") or []]

    async def list_events_of(self, namespace: str, uid: str, reason: str,
                             limit: int = 10) -> list[JSON]:
        """At most ``limit`` Events with ``reason`` about the object with ``uid`` (an Event
        series is one object, however often it repeats)."""
        selector = f"involvedObject.uid={uid},reason={reason}"
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
