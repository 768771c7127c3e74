"""SubjectAccessReviews with their answers kept briefly, per user and request.

The admission webhook and the dashboard both ask "may this user do that?". A dashboard page
asks the same few questions on every re-render, and a `kubectl apply -f dir/` asks them once
per object; a short memory turns those into one review each. Ten seconds is the longest a
revoked right keeps working here, the same order as the API server's own authorization
webhook cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from agenttasks.core.bounded import BoundedMap
from agenttasks.core.privilege import Access, UserInfo
from agenttasks.manifests.reviews import access_allowed, access_review_body

from .secrets import SingleFlight

ANSWER_TTL_S = 10.0
MAX_ANSWERS = 8192

_Subject = tuple[str, str, tuple[str, ...], tuple[tuple[str, tuple[str, ...]], ...]]


class AccessReviewer(Protocol):
    async def review_access(self, body: dict[str, Any]) -> dict[str, Any]: ...


def _subject(user: UserInfo) -> _Subject:
    return (user.username, user.uid, tuple(sorted(user.groups)),
            tuple(sorted(user.extra.items())))


class AccessReviews:
    """``allowed(user, access)``: one SubjectAccessReview per user and request per TTL;
    callers asking the same thing at once share one review. A failed review is not kept."""

    def __init__(self, kube: AccessReviewer, ttl_s: float = ANSWER_TTL_S,
                 capacity: int = MAX_ANSWERS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.kube, self.ttl_s, self.clock = kube, ttl_s, clock
        self._answers: BoundedMap[tuple[_Subject, Access], tuple[float, bool]] = \
            BoundedMap(capacity)
        self._asking: SingleFlight[tuple[_Subject, Access], bool] = SingleFlight()
        self.reviews_sent = 0

    async def allowed(self, user: UserInfo, access: Access) -> bool:
        key = (_subject(user), access)
        kept = self._answers.get(key)
        if kept is not None and kept[0] > self.clock():
            return kept[1]
        return await self._asking.run(key, lambda: self._ask(key, user, access))

    async def _ask(self, key: tuple[_Subject, Access], user: UserInfo, access: Access) -> bool:
        self.reviews_sent += 1
        answer = access_allowed(await self.kube.review_access(access_review_body(user, access)))
        self._answers.put(key, (self.clock() + self.ttl_s, answer))
        return answer

    def __len__(self) -> int:
        return len(self._answers)
