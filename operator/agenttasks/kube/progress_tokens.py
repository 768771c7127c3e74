"""The current attempt's progress token per task, kept in a Secret the task controls.

Memory first: the reconciler puts each attempt's token here as it writes the Secret, so
the progress endpoint answers from memory. The Secret is read only for a task whose token
this process does not hold (after a restart), once at a time per task, and only if the
task controls it. Every map is bounded: tokens (an evicted one is read again), misses
(kept for a short TTL, so a stream of bad reports for a task without a token costs one
read per TTL), and closed tasks (finished, deleted, or with a foreign Secret), whose
reports are refused without any read until their next attempt.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from agenttasks.api.meta import Key
from agenttasks.core.bounded import BoundedMap
from agenttasks.core.facts import TaskFacts
from agenttasks.kube.client import ApiError, Kube
from agenttasks.kube.secrets import SingleFlight
from agenttasks.manifests.progress_secret import (
    build_progress_secret,
    controlling_task_uid,
    new_token,
    progress_secret_name,
    secret_token,
)

log = logging.getLogger("agenttasks.progress")

MAX_TOKENS = 20_000
MAX_MISSES = 10_000
MAX_CLOSED = 20_000
MISS_TTL_S = 10.0


@dataclass(frozen=True)
class _Token:
    uid: str
    """The uid of the task that controls the Secret."""
    attempt: int
    token: str


class ProgressTokens:
    """The current attempt's token per task: written by the reconciler before the attempt's
    Job exists, read by the progress endpoint."""

    def __init__(self, kube: Kube, max_tokens: int = MAX_TOKENS,
                 max_misses: int = MAX_MISSES, max_closed: int = MAX_CLOSED,
                 miss_ttl_s: float = MISS_TTL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.kube, self.miss_ttl_s, self.clock = kube, miss_ttl_s, clock
        self._known: BoundedMap[Key, _Token] = BoundedMap(max_tokens)
        self._misses: BoundedMap[Key, float] = BoundedMap(max_misses)  # key -> expiry
        self._closed: BoundedMap[Key, bool] = BoundedMap(max_closed)
        self._reads: SingleFlight[Key, _Token | None] = SingleFlight()

    async def ensure(self, task: TaskFacts, attempt: int) -> bool:
        """A token for ``attempt``: kept if the Secret already has it (a restart between
        the Secret and the Job), else a new one, so a stale attempt's token stops working.
        Create first: the first attempt, by far the most common, then costs one round trip.

        False when a Secret of that name exists that the task does not control: it is
        neither changed nor trusted, and the attempt must run without progress."""
        key = task.key
        self._misses.pop(key)
        token = new_token()
        secret = build_progress_secret(task, attempt, token)
        name = progress_secret_name(task.name)
        try:
            await self.kube.create_secret(secret)
        except ApiError as exc:
            if not exc.conflict:
                raise
            body = await self.kube.read_secret(task.namespace, name)
            if body is None:  # deleted since: create it again (a new conflict raises)
                await self.kube.create_secret(secret)
            elif controlling_task_uid(body, task.name) != task.uid:
                log.warning("Secret %s/%s is not controlled by AgentTask %s (uid %s): left "
                            "unchanged; attempt %d runs without progress", task.namespace,
                            name, task.name, task.uid, attempt)
                self._known.pop(key)
                self._closed.put(key, True)
                return False
            elif (held := secret_token(body)) is not None and held[0] == attempt:
                token = held[1]
            else:
                # The read's resourceVersion: a Secret replaced since is not overwritten.
                await self.kube.patch_secret(task.namespace, name, {
                    "metadata": {"annotations": secret["metadata"]["annotations"],
                                 "resourceVersion": body["metadata"]["resourceVersion"]},
                    "stringData": secret["stringData"]})
        self._closed.pop(key)
        self._known.put(key, _Token(task.uid, attempt, token))
        return True

    async def current(self, namespace: str, task: str,
                      uid: str | None = None) -> tuple[int, str] | None:
        """The attempt and token reports for the task must carry; None: refuse them all.
        ``uid``, when the caller knows it, is the task's: a token held for another task of
        the same name (deleted and created again) does not count."""
        key = (namespace, task)
        if key in self._closed:
            return None
        found = self._known.get(key)
        if found is None:
            expiry = self._misses.get(key)
            if expiry is not None and self.clock() < expiry:
                return None
            found = await self._reads.run(key, lambda: self._read(namespace, task))
        if found is None or (uid is not None and found.uid != uid):
            return None
        return found.attempt, found.token

    async def _read(self, namespace: str, task: str) -> _Token | None:
        key = (namespace, task)
        body = await self.kube.read_secret(namespace, progress_secret_name(task))
        owner = controlling_task_uid(body, task) if body is not None else None
        held = secret_token(body) if body is not None else None
        if key in self._closed:  # finished while the read was on its way
            return None
        if (known := self._known.get(key)) is not None:  # ensure() wrote a newer one
            return known
        if body is None or owner is None or held is None:
            self._misses.put(key, self.clock() + self.miss_ttl_s)
            return None
        found = _Token(owner, *held)
        self._known.put(key, found)
        return found

    def forget(self, namespace: str, task: str) -> None:
        """The task finished or is gone: its reports are refused from now on, without a
        read, until an attempt of it (rerun, or a new task of that name) ensures a token."""
        key = (namespace, task)
        self._known.pop(key)
        self._misses.pop(key)
        self._closed.put(key, True)

    def sizes(self) -> tuple[int, int, int, int]:
        """Entries held: tokens, misses, closed tasks, reads in flight."""
        return len(self._known), len(self._misses), len(self._closed), len(self._reads)
