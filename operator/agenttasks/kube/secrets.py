"""Trigger secrets, read through a short-lived cache: a webhook request never waits on the
API server for a secret read within the TTL, and a rotated key is seen within it. Values
stay in memory only, and are never logged. The cache holds at most ``capacity`` secrets,
and a read in flight is shared by every request that waits for it, then forgotten."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from agenttasks.core.bounded import BoundedMap
from agenttasks.core.triggers import SecretState
from agenttasks.kube.client import Kube

TTL_S = 10.0
MAX_SECRETS = 10_000

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class SingleFlight(Generic[K, T]):
    """One call per key at a time: callers that arrive while it runs share its answer (or
    its exception). Only calls in flight are kept, so the map is bounded by concurrency."""

    def __init__(self) -> None:
        self._running: dict[K, asyncio.Future[T]] = {}

    async def run(self, key: K, call: Callable[[], Awaitable[T]]) -> T:
        running = self._running.get(key)
        if running is not None:
            await asyncio.wait({running})  # neither cancels it nor raises its exception
            if not running.cancelled():
                return running.result()
            # its caller was cancelled: this one reads for itself
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._running[key] = future
        try:
            value = await call()
        except asyncio.CancelledError:
            future.cancel()  # the waiters make the call themselves
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        else:
            future.set_result(value)
            return value
        finally:
            if self._running.get(key) is future:
                del self._running[key]

    def __len__(self) -> int:
        return len(self._running)


class SecretCache:
    def __init__(self, kube: Kube, ttl_s: float = TTL_S, capacity: int = MAX_SECRETS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.kube, self.ttl_s, self.clock = kube, ttl_s, clock
        self._entries: BoundedMap[tuple[str, str], tuple[float, dict[str, bytes] | None]] = \
            BoundedMap(capacity)
        self._reads: SingleFlight[tuple[str, str], dict[str, bytes] | None] = SingleFlight()

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
        if entry and self.clock() - entry[0] < self.ttl_s:
            return entry[1]
        # One read per secret at a time, however many deliveries arrive at once.
        return await self._reads.run(cache_key, lambda: self._read(namespace, name))

    async def _read(self, namespace: str, name: str) -> dict[str, bytes] | None:
        body = await self.kube.read_secret(namespace, name)
        data = None if body is None else {
            k: base64.b64decode(v) for k, v in (body.get("data") or {}).items()}
        self._entries.put((namespace, name), (self.clock(), data))
        return data

    def sizes(self) -> tuple[int, int]:
        """Entries held: secrets cached (fresh or stale), reads in flight."""
        return len(self._entries), len(self._reads)
