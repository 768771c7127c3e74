"""In-memory indexes fed by informers: each object contributes ``{key: value}`` to an index,
and a later event of the same object replaces its contribution (as kopf's indexes did)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any, Generic, TypeVar

from agenttasks.api.meta import Key

V = TypeVar("V")
Body = dict[str, Any]


class Index(Mapping[Key, Collection[V]], Generic[V]):
    """Almost every key has one contributor (a task's own facts, a task's Jobs seldom more
    than a few), so a key holds its one (uid, value) pair as a tuple and a dict only once a
    second object contributes: with 50,000 stored tasks, a dict per key was 10 MiB."""

    def __init__(self, contribution: Callable[[Body], Mapping[Key, V]]) -> None:
        self._contribution = contribution
        self._by_key: dict[Key, tuple[str, V] | dict[str, V]] = {}
        self._keys_of: dict[str, Key | tuple[Key, ...]] = {}

    def apply(self, kind: str, body: Body,
              contributed: Mapping[Key, V] | None = None) -> None:
        """Takes one watch event (ADDED, MODIFIED or DELETED) into the index; a caller that
        has already read the body passes what it contributes, so it is not read twice."""
        uid = str(body["metadata"]["uid"])
        for key in _keys(self._keys_of.pop(uid, ())):
            self._remove(key, uid)
        if kind == "DELETED":
            return
        if contributed is None:
            contributed = self._contribution(body)
        for key, value in contributed.items():
            self._add(key, uid, value)
        if len(contributed) == 1:
            self._keys_of[uid] = next(iter(contributed))
        elif contributed:
            self._keys_of[uid] = tuple(contributed)

    def _add(self, key: Key, uid: str, value: V) -> None:
        held = self._by_key.get(key)
        if held is None:
            self._by_key[key] = (uid, value)
        elif isinstance(held, dict):
            held[uid] = value
        else:
            self._by_key[key] = {held[0]: held[1], uid: value}

    def _remove(self, key: Key, uid: str) -> None:
        held = self._by_key.get(key)
        if isinstance(held, dict):
            held.pop(uid, None)
            if len(held) == 1:
                self._by_key[key] = next(iter(held.items()))
        elif held is not None and held[0] == uid:
            del self._by_key[key]

    def __getitem__(self, key: Key) -> Collection[V]:
        held = self._by_key[key]
        return held.values() if isinstance(held, dict) else (held[1],)

    def __iter__(self) -> Iterator[Key]:
        return iter(self._by_key)

    def __len__(self) -> int:
        return len(self._by_key)


def _keys(held: Key | tuple[Key, ...]) -> tuple[Key, ...]:
    """One key is kept as itself, several as a tuple of keys (a key is a pair of strings)."""
    if not held:
        return ()
    return (held,) if isinstance(held[0], str) else held
