"""The reads behind a progress report's authentication, each kept in a bounded map.

- ``PodTokenReviews``: a token's TokenReview for our audience, which names the pod the token
  was bound to. Kept by the token's hash until the token expires, at most MAX_REVIEW_TTL_S
  (so that a revoked ServiceAccount, or a deleted pod whose attempt somehow goes on, is
  noticed within it); a refusal for MISS_TTL_S. The kubelet renews a projected token at 80%
  of its hour, so a pod costs about one review per 10 minutes.
- ``PodBindings``: per pod uid, the Job that controls the pod and the task that controls
  that Job. A pod never changes Job, so a binding is kept until the bound pushes it out;
  whether its attempt is still the current one is decided on each report, from memory.

Concurrent callers for one token or one pod share one read (SingleFlight). A failed read
raises and keeps nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from agenttasks.core.bounded import BoundedMap
from agenttasks.core.facts import JobFacts
from agenttasks.core.progress_auth import (
    PodBinding,
    PodIdentity,
    bind_pod,
    pod_identity,
    review_ttl,
    unverified_claims,
)
from agenttasks.manifests.jobs import job_facts
from agenttasks.manifests.progress_token import pod_facts
from agenttasks.manifests.reviews import token_key, token_review_body, user_from_token_review

from .secrets import SingleFlight

MAX_REVIEW_TTL_S = 600.0
NO_EXPIRY_TTL_S = 60.0  # a valid token without exp (not one the kubelet mounts)
MISS_TTL_S = 10.0
MAX_REVIEWS = 20_000
MAX_BINDINGS = 20_000

JSON = dict[str, Any]


class TokenReviewer(Protocol):
    async def review_token(self, body: JSON) -> JSON: ...


class PodReader(Protocol):
    async def get_pod(self, namespace: str, name: str) -> JSON | None: ...

    async def get_job(self, namespace: str, name: str) -> JSON | None: ...


class PodTokenReviews:
    def __init__(self, kube: TokenReviewer, audience: str, capacity: int = MAX_REVIEWS,
                 max_ttl_s: float = MAX_REVIEW_TTL_S, miss_ttl_s: float = MISS_TTL_S,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.kube, self.audience = kube, audience
        self.max_ttl_s, self.miss_ttl_s, self.clock, self.wall = max_ttl_s, miss_ttl_s, clock, wall
        self._kept: BoundedMap[str, tuple[float, PodIdentity | None]] = BoundedMap(capacity)
        self._reviewing: SingleFlight[str, PodIdentity | None] = SingleFlight()
        self.reviews_sent = 0

    def kept(self, token: str) -> tuple[bool, PodIdentity | None]:
        """(True, the pod or None) when a review's answer for ``token`` is still kept."""
        found = self._kept.get(token_key(token))
        if found is not None and found[0] > self.clock():
            return True, found[1]
        return False, None

    async def review(self, token: str) -> PodIdentity | None:
        """The pod ``token`` was bound to, by a TokenReview (one per token at a time)."""
        key = token_key(token)  # the token itself is never kept or logged
        return await self._reviewing.run(key, lambda: self._review(key, token))

    async def _review(self, key: str, token: str) -> PodIdentity | None:
        asked, wall = self.clock(), self.wall()  # the answer holds from when it was asked
        self.reviews_sent += 1
        answer = await self.kube.review_token(token_review_body(token, [self.audience]))
        pod = pod_identity(user_from_token_review(answer, [self.audience]))
        ttl = review_ttl(unverified_claims(token), wall, self.max_ttl_s, NO_EXPIRY_TTL_S) \
            if pod is not None else self.miss_ttl_s
        self._kept.pop(key)  # stored again as the newest entry, or not at all
        if ttl > 0:
            self._kept.put(key, (asked + ttl, pod))
        return pod

    def __len__(self) -> int:
        return len(self._kept)


class PodBindings:
    def __init__(self, kube: PodReader, capacity: int = MAX_BINDINGS,
                 miss_ttl_s: float = MISS_TTL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.kube, self.miss_ttl_s, self.clock = kube, miss_ttl_s, clock
        self._bound: BoundedMap[str, PodBinding] = BoundedMap(capacity)
        self._misses: BoundedMap[str, float] = BoundedMap(capacity)  # pod uid -> expiry
        self._reading: SingleFlight[str, PodBinding | None] = SingleFlight()
        self.reads = 0

    async def binding(self, pod: PodIdentity,
                      indexed: Callable[[str], JobFacts | None]) -> PodBinding | None:
        """The reviewed pod's binding. ``indexed`` gives a Job of that name from the
        operator's index; only a Job it lacks is read from the API server."""
        found = self._bound.get(pod.uid)
        if found is not None:
            return found
        expiry = self._misses.get(pod.uid)
        if expiry is not None and expiry > self.clock():
            return None
        return await self._reading.run(pod.uid, lambda: self._read(pod, indexed))

    async def _read(self, pod: PodIdentity,
                    indexed: Callable[[str], JobFacts | None]) -> PodBinding | None:
        self.reads += 1
        body = await self.kube.get_pod(pod.namespace, pod.name)
        facts = pod_facts(body) if body is not None else None
        job = None
        if facts is not None and facts.uid == pod.uid and facts.controller is not None:
            job = indexed(facts.controller.name)
            if job is None or job.uid != facts.controller.uid:
                self.reads += 1
                job_body = await self.kube.get_job(pod.namespace, facts.controller.name)
                job = job_facts(job_body) if job_body is not None else None
        bound = bind_pod(pod, facts, job)
        if bound is None:
            self._misses.put(pod.uid, self.clock() + self.miss_ttl_s)
        else:
            self._misses.pop(pod.uid)
            self._bound.put(pod.uid, bound)
        return bound

    def sizes(self) -> tuple[int, int, int]:
        """Entries held: bindings, misses, reads in flight."""
        return len(self._bound), len(self._misses), len(self._reading)
