"""kube.access_reviews: one SubjectAccessReview per user and request per TTL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agenttasks.core.privilege import Access, UserInfo
from agenttasks.kube.access_reviews import ANSWER_TTL_S, AccessReviews

ALICE = UserInfo("alice", groups=("team-a",))
CREATE_JOBS = Access("create", "jobs", "team-a", group="batch")


class Reviewer:
    def __init__(self, allowed: set[str]) -> None:
        self.allowed = allowed
        self.bodies: list[dict[str, Any]] = []
        self.fail = False
        self.gate: asyncio.Event | None = None

    async def review_access(self, body: dict[str, Any]) -> dict[str, Any]:
        self.bodies.append(body)
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise ConnectionError("API server down")
        user = body["spec"]["user"]
        return {"status": {"allowed": user in self.allowed}}


def test_an_answer_is_kept_for_its_ttl_then_asked_again() -> None:
    reviewer, now = Reviewer({"alice"}), [0.0]
    reviews = AccessReviews(reviewer, clock=lambda: now[0])

    async def main() -> None:
        assert await reviews.allowed(ALICE, CREATE_JOBS)
        assert await reviews.allowed(ALICE, CREATE_JOBS)
        assert len(reviewer.bodies) == 1
        reviewer.allowed.clear()  # revoked: still allowed from memory until the TTL passes
        now[0] += ANSWER_TTL_S - 0.1
        assert await reviews.allowed(ALICE, CREATE_JOBS)
        now[0] += 0.2
        assert not await reviews.allowed(ALICE, CREATE_JOBS)
        assert len(reviewer.bodies) == 2

    asyncio.run(main())


def test_other_users_groups_and_requests_are_asked_apart() -> None:
    reviewer = Reviewer({"alice"})
    reviews = AccessReviews(reviewer)

    async def main() -> None:
        assert await reviews.allowed(ALICE, CREATE_JOBS)
        assert not await reviews.allowed(UserInfo("bob"), CREATE_JOBS)
        assert await reviews.allowed(UserInfo("alice", groups=("other",)), CREATE_JOBS)
        assert await reviews.allowed(ALICE, Access("create", "jobs", "team-b", group="batch"))
        assert len(reviewer.bodies) == 4

    asyncio.run(main())


def test_callers_asking_at_once_share_one_review() -> None:
    reviewer = Reviewer({"alice"})
    reviewer.gate = asyncio.Event()
    reviews = AccessReviews(reviewer)

    async def main() -> None:
        asking = [asyncio.create_task(reviews.allowed(ALICE, CREATE_JOBS)) for _ in range(20)]
        await asyncio.sleep(0)
        assert reviewer.gate is not None
        reviewer.gate.set()
        assert all(await asyncio.gather(*asking))
        assert len(reviewer.bodies) == 1

    asyncio.run(main())


def test_a_failed_review_raises_and_is_not_kept() -> None:
    reviewer = Reviewer({"alice"})
    reviewer.fail = True
    reviews = AccessReviews(reviewer)

    async def main() -> None:
        with pytest.raises(ConnectionError):
            await reviews.allowed(ALICE, CREATE_JOBS)
        reviewer.fail = False
        assert await reviews.allowed(ALICE, CREATE_JOBS)
        assert len(reviewer.bodies) == 2

    asyncio.run(main())


def test_the_memory_is_bounded_whatever_users_ask() -> None:
    reviews = AccessReviews(Reviewer(set()), capacity=100)

    async def main() -> None:
        for i in range(1000):
            await reviews.allowed(UserInfo(f"user-{i}"), CREATE_JOBS)
        assert len(reviews) == 100

    asyncio.run(main())
