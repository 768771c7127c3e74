"""The dashboard's static files (web/static/, package data), served from memory with an
ETag and ``Cache-Control: no-cache``.

Why revalidation rather than content-hashed URLs cached for a year: the operator may run
as two replicas behind one Service, and during a rolling upgrade a page served by one
replica can load its script from the other. With a stable URL and an ETag, the browser
always gets a script that exists (a 304 when it has it already, a few bytes), whereas a
hashed URL would be a 404 on the replica that does not have that version. The URLs also
stay the ones docs/dashboard.md names.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

from aiohttp import web

CACHE_CONTROL = "no-cache"  # keep it, but ask (If-None-Match) before each use


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str  # quoted, strong: a hash of the body


def load(name: str, content_type: str) -> Asset:
    body = (resources.files("agenttasks.web") / "static" / name).read_bytes()
    return Asset(body, content_type, f'"{hashlib.sha256(body).hexdigest()[:32]}"')


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names ``etag`` (weak comparison, as RFC 9110 asks
    for this header), or is ``*``."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


def respond(asset: Asset, request: web.Request) -> web.Response:
    headers = {"ETag": asset.etag, "Cache-Control": CACHE_CONTROL,
               "X-Content-Type-Options": "nosniff"}
    if etag_matches(request.headers.get("If-None-Match"), asset.etag):
        return web.Response(status=304, headers=headers)
    return web.Response(body=asset.body, content_type=asset.content_type, charset="utf-8",
                        headers=headers)
