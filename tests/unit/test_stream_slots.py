"""The dashboard's stream slots: a share per user, one shared by anonymous readers, a total."""

from __future__ import annotations

import pytest

from agenttasks.web.stream_slots import (
    MAX_ANONYMOUS_STREAMS,
    MAX_STREAMS,
    MAX_STREAMS_PER_USER,
    Refusal,
    StreamSlots,
)


def test_a_user_holds_at_most_their_share() -> None:
    slots = StreamSlots(total=100, per_user=3, anonymous=2)
    assert [slots.open("alice") for _ in range(3)] == [None, None, None]
    assert slots.open("alice") is Refusal.USER
    assert slots.held("alice") == 3 and slots.open_streams == 3  # a refusal takes nothing
    assert slots.open("bob") is None  # another user has a share of their own
    slots.close("alice")
    assert slots.open("alice") is None


def test_anonymous_readers_share_one_budget() -> None:
    slots = StreamSlots(total=100, per_user=3, anonymous=2)
    assert [slots.open(None) for _ in range(3)] == [None, None, Refusal.USER]
    assert slots.open("alice") is None  # signed-in users are not held up by them
    # an empty username is a user's, not the anonymous budget
    assert slots.held(None) == 2 and slots.held("") == 0


def test_the_total_caps_every_user_together() -> None:
    slots = StreamSlots(total=4, per_user=3, anonymous=3)
    for user in ("a", "a", "b", None):
        assert slots.open(user) is None
    assert slots.open("c") is Refusal.FULL
    assert slots.open("a") is Refusal.FULL
    assert slots.open("b") is Refusal.FULL
    slots.close("b")
    assert slots.open("c") is None


def test_memory_holds_only_users_with_streams() -> None:
    slots = StreamSlots(total=5, per_user=1, anonymous=1)
    for i in range(1000):  # many users come and go
        assert slots.open(f"user-{i}") is None
        slots.close(f"user-{i}")
    assert len(slots) == 0 and slots.open_streams == 0
    for i in range(1000):  # many at once: the total bounds the map
        slots.open(f"user-{i}")
    assert len(slots) == 5 and slots.open_streams == 5


def test_closing_what_was_not_opened_is_a_bug() -> None:
    slots = StreamSlots()
    with pytest.raises(ValueError):
        slots.close("alice")
    slots.open("alice")
    slots.close("alice")
    with pytest.raises(ValueError):
        slots.close("alice")
    assert slots.open_streams == 0


def test_defaults_leave_room_for_many_users() -> None:
    assert MAX_STREAMS_PER_USER < MAX_ANONYMOUS_STREAMS < MAX_STREAMS
    slots = StreamSlots()
    assert slots.share("alice") == MAX_STREAMS_PER_USER
    assert slots.share(None) == MAX_ANONYMOUS_STREAMS
    with pytest.raises(ValueError):
        StreamSlots(per_user=0)
