"""List+watch of one resource in one scope, streamed over aiohttp: an informer for the
operator, and `watch`, an async generator of changes for the CLI.

Why not kopf's indexes: kopf starts a worker per object and, with indexes, every worker waits
on one shared condition that each new object notifies: start-up is quadratic in the number
of stored objects (10,000 finished tasks took minutes). Here each event costs one JSON parse
and one callback, and nothing but the resourceVersion is kept per informer (and, per object,
what a re-list needs to report it vanished).

Bodies are parsed by pydantic-core's JSON parser (pydantic's own, already a dependency),
a quarter faster than the standard library's here, and one copy of each short string it
meets again (namespaces, phases, label values) instead of one per object.

A listing is parsed and delivered a page at a time with Python's cyclic collector paused: with
20,000 stored tasks, collections set off by each page's new objects, each going through all
those already held, were two thirds of the listing's time. Nothing awaits within a page, so
nothing else runs meanwhile, and a page leaves no cyclic garbage.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from pydantic_core import from_json

from .connection import ApiError, Connection, api_error

log = logging.getLogger("agenttasks.watching")

JSON = dict[str, Any]
# (event type, object): ADDED, MODIFIED or DELETED; a re-list reports vanished objects as
# DELETED with the last metadata seen.
OnEvent = Callable[[str, JSON], None]
PAGE_SIZE = 500
WATCH_TIMEOUT_S = 290
BACKOFF_S = (0.5, 1, 2, 4, 8, 15, 30)
# A watch outlives the shared session's request timeout; it ends when the server ends it
# (timeoutSeconds), or when nothing, not even a bookmark, arrives for this long.
_WATCH_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10,
                                       sock_read=WATCH_TIMEOUT_S + 30)


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str

    def path(self, namespace: str | None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        return f"{base}/namespaces/{namespace}/{self.plural}" if namespace else \
            f"{base}/{self.plural}"


class Gone(Exception):
    """410: the resourceVersion we watch from was compacted away; re-list."""


class Informer:
    """Keeps ``on_event`` told about every object of ``resource`` in ``namespace`` (None: all
    namespaces): a paged list first, then a watch from its resourceVersion, re-listed on 410."""

    def __init__(self, connection: Connection, resource: Resource, namespace: str | None,
                 on_event: OnEvent, label_selector: str = "") -> None:
        # The operator's one connection (Kube's): informers and calls share its session and
        # its credentials. It belongs to the client, so an informer never closes it, and
        # resets it only when the credentials were refused (a rotated token).
        self.connection = connection
        self.resource, self.namespace = resource, namespace
        self.on_event, self.label_selector = on_event, label_selector
        self.synced = asyncio.Event()
        # uid → (namespace, name, labels) last seen, to report objects that vanished while
        # not watching; a tuple, not the metadata dict, for every stored object.
        self._known: dict[str, _Seen] = {}

    def __repr__(self) -> str:
        return f"Informer({self.resource.plural} in {self.namespace or 'all namespaces'})"

    async def run(self) -> None:
        failures = 0
        version: str | None = None
        while True:
            try:
                if version is None:
                    version = await self._list()
                    self.synced.set()
                version = await self._watch(version)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Gone:
                log.info("%r: resourceVersion %s expired; listing again", self, version)
                version = None
            except Exception as exc:  # the API server is away or refuses: back off, retry
                delay = BACKOFF_S[min(failures, len(BACKOFF_S) - 1)]
                failures += 1
                log.warning("%r: %s; retrying in %ss", self, _describe(exc), delay)
                if isinstance(exc, ApiError) and exc.status == 401:
                    await self.connection.reset()
                await asyncio.sleep(delay)

    async def _list(self) -> str:
        session = await self.connection.session()
        seen: set[str] = set()
        version = ""
        fetch: asyncio.Future[bytes] | None = asyncio.ensure_future(self._page(session, ""))
        try:
            while fetch is not None:
                raw = await fetch
                # The next page is asked for before this one is parsed, so that the API server
                # encodes it meanwhile: on two cores, its work and ours overlap.
                ahead, fetch = _continue_of(raw), None
                if ahead:
                    fetch = asyncio.ensure_future(self._page(session, ahead))
                    for _ in range(2):  # the request leaves before the parse holds the loop
                        await asyncio.sleep(0)
                meta = self.take_page(raw, seen)
                del raw
                version, token = str(meta.get("resourceVersion") or ""), meta.get("continue")
                if (token or "") != ahead:  # not where the page's tail said: ask again
                    _drop(fetch)
                    fetch = asyncio.ensure_future(self._page(session, token)) if token else None
        finally:
            _drop(fetch)
        for uid in set(self._known) - seen:
            self._deliver("DELETED", {"metadata": _vanished(uid, self._known[uid])})
        return version

    async def _page(self, session: aiohttp.ClientSession, token: str) -> bytes:
        query = {"limit": str(PAGE_SIZE), **_selector(self.label_selector)}
        if token:
            query["continue"] = token
        async with session.get(self._url(query), headers=_UNCOMPRESSED) as response:
            if response.status == 410:
                raise Gone()  # the continue token expired mid-list
            await _raise_for(response)
            return await response.read()

    def take_page(self, raw: bytes, seen: set[str]) -> JSON:
        """Delivers one page of a listing, adding each object's uid to ``seen``; returns the
        page's metadata (resourceVersion, continue)."""
        with _collection_paused():
            page = _decode(raw)
            del raw
            for body in page.get("items") or []:
                uid = body["metadata"]["uid"]
                seen.add(uid)
                self._deliver("ADDED" if uid not in self._known else "MODIFIED", body)
            meta: JSON = page.get("metadata") or {}
            del page  # freed now, not looked through by the collector first
        return meta

    async def _watch(self, version: str) -> str:
        session = await self.connection.session()
        query = {"watch": "1", "resourceVersion": version, "allowWatchBookmarks": "true",
                 "timeoutSeconds": str(WATCH_TIMEOUT_S), **_selector(self.label_selector)}
        async with session.get(self._url(query), timeout=_WATCH_TIMEOUT) as response:
            if response.status == 410:
                raise Gone()
            await _raise_for(response)
            async for line in response.content:
                if (event := _event(line)) is None:
                    continue
                kind, body = event
                version = str((body.get("metadata") or {}).get("resourceVersion") or version)
                if kind != "BOOKMARK":
                    self._deliver(kind, body)
        return version

    def _deliver(self, kind: str, body: JSON) -> None:
        meta = body.get("metadata") or {}
        # Who last wrote which field: large, and read by nobody here.
        meta.pop("managedFields", None)
        uid = str(meta.get("uid", ""))
        if kind == "DELETED":
            self._known.pop(uid, None)
        else:
            self._known[uid] = _seen(meta)
        try:
            self.on_event(kind, body)
        except Exception:  # one bad object must not stop the stream of the others
            log.exception("%r: handling %s %s/%s failed", self, kind, meta.get("namespace"),
                          meta.get("name"))

    def _url(self, query: dict[str, str]) -> str:
        return f"{self.connection.host}{self.resource.path(self.namespace)}?{urlencode(query)}"


_Seen = tuple[str | None, str | None, tuple[tuple[str, str], ...]]


def _seen(meta: JSON) -> _Seen:
    namespace = meta.get("namespace")
    labels = meta.get("labels") or {}
    return (sys.intern(namespace) if isinstance(namespace, str) else None, meta.get("name"),
            tuple((sys.intern(k), sys.intern(v)) for k, v in labels.items()
                  if isinstance(k, str) and isinstance(v, str)) if isinstance(labels, dict)
            else ())


def _vanished(uid: str, seen: _Seen) -> JSON:
    """The metadata a DELETED event of a vanished object carries: what was last seen."""
    namespace, name, labels = seen
    meta: JSON = {"uid": uid, "labels": dict(labels)}
    if namespace is not None:
        meta["namespace"] = namespace
    if name is not None:
        meta["name"] = name
    return meta


def _continue_of(raw: bytes) -> str:
    """A list page's continue token, read from the page's tail without parsing the page:
    a list of our kinds ends with the list's metadata (its keys are sorted). "" when the
    tail is anything else (built-in lists put metadata first): the page is then parsed
    before the next one is asked for."""
    at = raw.rfind(b'"metadata":')
    if at < 0:
        return ""
    try:
        tail = raw[at + len(b'"metadata":'):].decode()
        meta, end = _TAIL.raw_decode(tail, len(tail) - len(tail.lstrip()))
    except ValueError:
        return ""
    if tail[end:].strip() != "}" or not isinstance(meta, dict):
        return ""
    return str(meta.get("continue") or "")


_TAIL = json.JSONDecoder()
# Listing pages are asked for uncompressed, as kube-controller-manager and kube-scheduler ask
# for everything (kubernetes#80919): near the API server, gzip costs its CPU (and ours)
# more than the bytes it saves; here the API server's encoding was what a listing waited on.
_UNCOMPRESSED = {"Accept-Encoding": "identity"}


def _decode(raw: bytes) -> Any:
    return from_json(raw, cache_strings="all")


def _drop(fetch: asyncio.Future[bytes] | None) -> None:
    """A page asked for ahead and not wanted: cancelled, or its failure taken (no warning)."""
    if fetch is None:
        return
    if not fetch.done():
        fetch.cancel()
    elif not fetch.cancelled():
        fetch.exception()


@contextmanager
def _collection_paused() -> Iterator[None]:
    """No cyclic collection while a page is parsed and delivered (see the module's doc)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@dataclass(frozen=True)
class WatchEvent:
    """``ADDED``, ``MODIFIED`` or ``DELETED`` of ``obj``; ``RELISTED`` after the watch
    expired (410 Gone), with every object as listed afresh in ``items``."""

    type: str
    obj: JSON | None = None
    items: tuple[JSON, ...] = ()


async def watch(connection: Connection, resource: Resource, namespace: str | None,
                resource_version: str, label_selector: str = "") -> AsyncIterator[WatchEvent]:
    """Every change after ``resource_version``, until the caller stops. Bookmarks move the
    resourceVersion on; a watch the server ends (timeoutSeconds) is resumed from the last
    one; 410 Gone re-lists. Any other failure raises (ApiError for an error answer)."""
    version = resource_version
    while True:
        session = await connection.session()
        query = {"watch": "1", "resourceVersion": version, "allowWatchBookmarks": "true",
                 "timeoutSeconds": str(WATCH_TIMEOUT_S), **_selector(label_selector)}
        url = f"{connection.host}{resource.path(namespace)}?{urlencode(query)}"
        try:
            async with session.get(url, timeout=_WATCH_TIMEOUT) as response:
                if response.status == 410:
                    raise Gone()
                if response.status >= 400:
                    raise api_error(response.status, response.reason or "",
                                    await response.read())
                async for line in response.content:
                    if (event := _event(line)) is None:
                        continue
                    kind, body = event
                    version = str((body.get("metadata") or {}).get("resourceVersion")
                                  or version)
                    if kind != "BOOKMARK":
                        yield WatchEvent(kind, body)
        except Gone:
            url = f"{connection.host}{resource.path(namespace)}?" \
                f"{urlencode(_selector(label_selector))}"
            async with session.get(url) as response:
                if response.status >= 400:
                    raise api_error(response.status, response.reason or "",
                                    await response.read()) from None
                listing = _decode(await response.read())
            version = str((listing.get("metadata") or {}).get("resourceVersion") or "")
            yield WatchEvent("RELISTED", items=tuple(listing.get("items") or ()))


def _event(line: bytes) -> tuple[str, JSON] | None:
    """One line of a watch stream as (type, object); None for a blank line. An ERROR event
    raises: Gone for 410 (the caller re-lists), ApiError for any other code."""
    if not line.strip():
        return None
    event = _decode(line)
    kind, body = str(event.get("type")), event.get("object") or {}
    if kind == "ERROR":
        if body.get("code") == 410:
            raise Gone()
        raise api_error(int(body.get("code") or 500), str(body.get("reason")),
                        json.dumps(body).encode())
    return kind, body


def _selector(label_selector: str) -> dict[str, str]:
    return {"labelSelector": label_selector} if label_selector else {}


async def _raise_for(response: aiohttp.ClientResponse) -> None:
    if response.status >= 400:
        text = (await response.text())[:300]
        retry = response.headers.get("Retry-After")
        if response.status == 429 and retry and retry.isdigit():
            await asyncio.sleep(min(int(retry), 30))
        raise ApiError(response.status, response.reason or "", text)


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
