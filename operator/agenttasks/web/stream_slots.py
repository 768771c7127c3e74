"""Who may hold how many live dashboard streams: pure counting, no I/O.

A stream holds a connection and re-renders its view for as long as the browser keeps it, so
the total is capped; without a cap per user, any valid token (even one with no rights)
could take every slot. Each signed-in user has a small share of their own, by username;
anonymous readers (read-only mode) all share one, since nothing tells them apart.
"""

from __future__ import annotations

import enum

MAX_STREAMS = 200  # every stream, all users together
MAX_STREAMS_PER_USER = 10  # one per browser tab: ten tabs is more than a person watches
MAX_ANONYMOUS_STREAMS = 20  # every token-less reader together, in read-only mode


class Refusal(enum.Enum):
    FULL = "full"  # every slot is taken
    USER = "user"  # this user holds their share


class StreamSlots:
    """``open(user)`` before a stream starts and ``close(user)`` when it ends; ``user`` is a
    username, or None for anonymous. Only users holding a stream are kept, so the map never
    has more than ``total`` entries."""

    def __init__(self, total: int = MAX_STREAMS, per_user: int = MAX_STREAMS_PER_USER,
                 anonymous: int = MAX_ANONYMOUS_STREAMS) -> None:
        if min(total, per_user, anonymous) < 1:
            raise ValueError("every stream limit must be at least 1")
        self.total, self.per_user, self.anonymous = total, per_user, anonymous
        self._held: dict[str | None, int] = {}
        self._open = 0

    def share(self, user: str | None) -> int:
        """How many streams ``user`` may hold at once."""
        return self.anonymous if user is None else self.per_user

    def open(self, user: str | None) -> Refusal | None:
        """Takes a slot for ``user``: None when granted, else why not (nothing is taken)."""
        if self.held(user) >= self.share(user):
            return Refusal.USER
        if self._open >= self.total:
            return Refusal.FULL
        self._held[user] = self.held(user) + 1
        self._open += 1
        return None

    def close(self, user: str | None) -> None:
        """Gives back a slot that ``open`` granted."""
        count = self.held(user)
        if count < 1:
            raise ValueError("no stream of this user is open")
        if count == 1:
            del self._held[user]  # a user without streams takes no memory
        else:
            self._held[user] = count - 1
        self._open -= 1

    def held(self, user: str | None) -> int:
        return self._held.get(user, 0)

    @property
    def open_streams(self) -> int:
        return self._open

    def __len__(self) -> int:
        """Users holding at least one stream."""
        return len(self._held)
