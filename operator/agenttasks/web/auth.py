"""The dashboard's gate: TokenReview (cached briefly, by token hash) to learn who calls, then
a SubjectAccessReview for that user before every read and every action. The operator's
intake of a split receiver's reports uses the same gate, for its TokenReview only.

Reviews of tokens the cache does not know are throttled per client address and in flight
(token_throttle.py); a token the cache holds, valid or not, is never throttled, and neither
is the re-review of one that was valid when its entry expired (a signed-in user's streams
and pages must not starve behind a flood of made-up tokens).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from agenttasks.core.bounded import BoundedMap
from agenttasks.core.privilege import Access, UserInfo
from agenttasks.kube.access_reviews import AccessReviews
from agenttasks.kube.secrets import SingleFlight
from agenttasks.manifests.reviews import token_key, token_review_body, user_from_token_review

from .access import bearer_token, denial
from .token_throttle import TokenReviewThrottle

log = logging.getLogger("agenttasks.dashboard")
TOKEN_TTL_S = 30.0  # a valid token is asked about again after this
INVALID_TOKEN_TTL_S = 5.0  # an invalid one sooner (it may have been mistyped, then fixed)
MAX_CACHED_TOKENS = 4096
READ_VERBS = frozenset({"get", "list", "watch"})


class Reviews(Protocol):
    """The two review calls of the dashboard (kube.client.Kube has them)."""

    async def review_token(self, body: dict[str, Any]) -> dict[str, Any]: ...

    async def review_access(self, body: dict[str, Any]) -> dict[str, Any]: ...


API_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}  # JSON answers


class DashboardError(Exception):
    """An answer to the browser: HTTP ``status`` and a message a person can act on;
    ``retry_after`` (seconds) for a 429."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.retry_after = status, message, retry_after


def unauthenticated(message: str) -> DashboardError:
    return DashboardError(401, message)


def throttled(wait_s: float) -> DashboardError:
    seconds = max(1, math.ceil(wait_s))
    return DashboardError(429, f"too many new tokens to check from here; try again in "
                          f"{seconds} s", retry_after=seconds)


class Gate:
    def __init__(self, reviews: Reviews, access: AccessReviews | None = None,
                 read_only_without_token: bool = False,
                 clock: Callable[[], float] = time.monotonic,
                 throttle: TokenReviewThrottle | None = None,
                 audiences: Sequence[str] = ()) -> None:
        """With ``audiences``, a token is valid only if it was issued for one of them."""
        self.reviews = reviews
        self.audiences = tuple(audiences)
        self.access = access if access is not None else AccessReviews(reviews, clock=clock)
        self.read_only_without_token = read_only_without_token
        self.clock = clock
        self.throttle = throttle if throttle is not None else TokenReviewThrottle(clock=clock)
        self._tokens: BoundedMap[str, tuple[float, UserInfo | None]] = \
            BoundedMap(MAX_CACHED_TOKENS)
        # A page opens its view, its stream and whoami at once: one review for the three.
        self._reviewing: SingleFlight[str, UserInfo | None] = SingleFlight()
        self.token_reviews_sent = 0

    async def identify(self, authorization: str | None, action: bool = False,
                       client: str = "") -> UserInfo | None:
        """The user behind an Authorization header. None means anonymous, which only reads in
        read-only mode may be; everything else without a valid token is a 401. ``client``
        is the caller's address, which new tokens' reviews are throttled by (a 429)."""
        try:
            token = bearer_token(authorization)
        except ValueError as exc:
            raise unauthenticated(str(exc)) from None
        if token is None:
            if self.read_only_without_token and not action:
                return None
            raise unauthenticated("sign in with a Kubernetes bearer token")
        user = await self._user(token, client)
        if user is None:
            raise unauthenticated("the token is not valid (TokenReview refused it)")
        return user

    async def _user(self, token: str, client: str) -> UserInfo | None:
        key = token_key(token)  # the token itself is never stored, logged or compared
        cached = self._tokens.get(key)
        if cached is not None and cached[0] > self.clock():
            return cached[1]
        known = cached is not None and cached[1] is not None  # valid when last asked
        return await self._reviewing.run(key, lambda: self._review(token, key, client, known))

    async def _review(self, token: str, key: str, client: str, known: bool) -> UserInfo | None:
        if not known:
            wait = self.throttle.refusal(client)
            if wait is not None:
                raise throttled(wait)  # nothing is sent, and nothing is cached
        now = self.clock()  # the answer holds from when it was asked for
        with self.throttle.sending():
            self.token_reviews_sent += 1
            try:
                review = await self.reviews.review_token(
                    token_review_body(token, self.audiences))
            except Exception as exc:
                log.warning("TokenReview failed: %s", type(exc).__name__)
                raise DashboardError(503, "could not review the token; try again") from None
        user = user_from_token_review(review, self.audiences)
        self._remember(key, user, now)
        return user

    def _remember(self, key: str, user: UserInfo | None, now: float) -> None:
        self._tokens.pop(key)  # re-reviewed: stored again as the newest entry
        if self._tokens.full_without(key):  # expired entries go before the oldest live one
            self._tokens.drop_where(lambda entry: entry[0] <= now)
        ttl = TOKEN_TTL_S if user is not None else INVALID_TOKEN_TTL_S
        self._tokens.put(key, (now + ttl, user))

    async def allows(self, user: UserInfo | None, access: Access) -> bool:
        """One SubjectAccessReview (or its answer of the last few seconds). Anonymous users
        (read-only mode) may read, nothing more."""
        if user is None:
            return self.read_only_without_token and access.verb in READ_VERBS
        try:
            return await self.access.allowed(user, access)
        except Exception as exc:
            log.warning("SubjectAccessReview failed: %s", exc)
            raise DashboardError(503, "could not check access; try again") from None

    async def require(self, user: UserInfo | None, *accesses: Access) -> None:
        """Raises a 403 unless ``user`` may do every one of ``accesses``."""
        verdicts = await asyncio.gather(*(self.allows(user, a) for a in accesses))
        for access, allowed in zip(accesses, verdicts, strict=True):
            if not allowed:
                who = user.username if user else "anonymous"
                log.info("dashboard: refused %s to %s", access.describe(), who)
                raise DashboardError(403, denial(user, access) if user else
                                     f"anonymous users may not {access.describe()}")

    async def readable(self, user: UserInfo | None, resource: str, wanted: str,
                       present: Iterable[str], limit: int = 50) -> frozenset[str] | None:
        """The namespaces whose ``resource`` the user may list: None for all of them.

        With a namespace ``wanted``, that one or a 403. Otherwise cluster-wide list rights
        give all; without them, each namespace in ``present`` is asked about (at most
        ``limit``; beyond that the user must pick a namespace)."""
        if wanted:
            await self.require(user, Access("list", resource, wanted))
            return frozenset({wanted})
        if await self.allows(user, Access("list", resource)):
            return None
        candidates = sorted(set(present))
        if len(candidates) > limit:
            raise DashboardError(403, f"you may not list {resource} in all namespaces; "
                                 "choose a namespace")
        verdicts = await asyncio.gather(*(self.allows(user, Access("list", resource, ns))
                                          for ns in candidates))
        return frozenset(ns for ns, ok in zip(candidates, verdicts, strict=True) if ok)
