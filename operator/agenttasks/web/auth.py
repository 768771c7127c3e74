"""The dashboard's gate: TokenReview (cached briefly, by token hash) to learn who calls, then
a SubjectAccessReview for that user before every read and every action. The operator's
intake of a split receiver's reports uses the same gate, for its TokenReview only."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from .access import (
    Access,
    UserInfo,
    access_allowed,
    access_review_body,
    bearer_token,
    denial,
    token_key,
    token_review_body,
    user_from_token_review,
)

log = logging.getLogger("agenttasks.dashboard")
TOKEN_TTL_S = 30.0  # a valid token is asked about again after this
INVALID_TOKEN_TTL_S = 5.0  # an invalid one sooner (it may have been mistyped, then fixed)
MAX_CACHED_TOKENS = 4096
READ_VERBS = frozenset({"get", "list", "watch"})


class Reviews(Protocol):
    """The two API calls the gate needs (kube.client.Kube has them)."""

    async def review_token(self, body: dict[str, Any]) -> dict[str, Any]: ...

    async def review_access(self, body: dict[str, Any]) -> dict[str, Any]: ...


API_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}  # JSON answers


class DashboardError(Exception):
    """An answer to the browser: HTTP ``status`` and a message a person can act on."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def unauthenticated(message: str) -> DashboardError:
    return DashboardError(401, message)


class Gate:
    def __init__(self, reviews: Reviews, read_only_without_token: bool = False,
                 clock: Callable[[], float] = time.monotonic,
                 audiences: tuple[str, ...] = ()) -> None:
        self.reviews = reviews
        self.read_only_without_token = read_only_without_token
        self.clock = clock
        self.audiences = audiences  # the tokens' audience; none: the API server's
        self._tokens: dict[str, tuple[float, UserInfo | None]] = {}

    async def identify(self, authorization: str | None, action: bool = False) -> UserInfo | None:
        """The user behind an Authorization header. None means anonymous, which only reads in
        read-only mode may be; everything else without a valid token is a 401."""
        try:
            token = bearer_token(authorization)
        except ValueError as exc:
            raise unauthenticated(str(exc)) from None
        if token is None:
            if self.read_only_without_token and not action:
                return None
            raise unauthenticated("sign in with a Kubernetes bearer token")
        user = await self._user(token)
        if user is None:
            raise unauthenticated("the token is not valid (TokenReview refused it)")
        return user

    async def _user(self, token: str) -> UserInfo | None:
        key = token_key(token)  # the token itself is never stored, logged or compared
        now = self.clock()
        cached = self._tokens.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            review = await self.reviews.review_token(token_review_body(token, self.audiences))
        except Exception as exc:
            log.warning("TokenReview failed: %s", type(exc).__name__)
            raise DashboardError(503, "could not review the token; try again") from None
        user = user_from_token_review(review, self.audiences)
        self._remember(key, user, now)
        return user

    def _remember(self, key: str, user: UserInfo | None, now: float) -> None:
        if len(self._tokens) >= MAX_CACHED_TOKENS:
            for stale in [k for k, (until, _u) in self._tokens.items() if until <= now]:
                del self._tokens[stale]
            while len(self._tokens) >= MAX_CACHED_TOKENS:
                del self._tokens[next(iter(self._tokens))]  # the oldest entry
        ttl = TOKEN_TTL_S if user is not None else INVALID_TOKEN_TTL_S
        self._tokens[key] = (now + ttl, user)

    async def allows(self, user: UserInfo | None, access: Access) -> bool:
        """One SubjectAccessReview. Anonymous users (read-only mode) may read, nothing more."""
        if user is None:
            return self.read_only_without_token and access.verb in READ_VERBS
        try:
            review = await self.reviews.review_access(access_review_body(user, access))
        except Exception as exc:
            log.warning("SubjectAccessReview failed: %s", exc)
            raise DashboardError(503, "could not check access; try again") from None
        return access_allowed(review)

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
