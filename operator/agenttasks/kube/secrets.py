"""Trigger secrets, read through a short-lived cache: a webhook request never waits on the
API server for a secret read within the TTL, and a rotated key is seen within it. Values
stay in memory only, and are never logged."""

from __future__ import annotations

import asyncio
import base64
import time

from agenttasks.core.triggers import SecretState
from agenttasks.kube.client import Kube

TTL_S = 10.0


class SecretCache:
    def __init__(self, kube: Kube, ttl_s: float = TTL_S) -> None:
        self.kube, self.ttl_s = kube, ttl_s
        self._entries: dict[tuple[str, str], tuple[float, dict[str, bytes] | None]] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def value(self, namespace: str, name: str, key: str
                    ) -> tuple[SecretState, bytes | None]:
        data = await self._data(namespace, name)
        if data is None:
            return SecretState.NOT_FOUND, None
        if key not in data:
            return SecretState.KEY_NOT_FOUND, None
        return SecretState.FOUND, data[key]

    async def _data(self, namespace: str, name: str) -> dict[str, bytes] | None:
        cache_key = (namespace, name)
        entry = self._entries.get(cache_key)
        if entry and time.monotonic() - entry[0] < self.ttl_s:
            return entry[1]
        # One read per secret at a time, however many deliveries arrive at once.
        async with self._locks.setdefault(cache_key, asyncio.Lock()):
            entry = self._entries.get(cache_key)
            if entry and time.monotonic() - entry[0] < self.ttl_s:
                return entry[1]
            body = await self.kube.read_secret(namespace, name)
            data = None if body is None else {
                k: base64.b64decode(v) for k, v in (body.get("data") or {}).items()}
            self._entries[cache_key] = (time.monotonic(), data)
            return data
