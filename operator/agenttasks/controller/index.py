"""In-memory indexes fed by informers: each object contributes ``{key: value}`` to an index,
and a later event of the same object replaces its contribution (as kopf's indexes did)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any, Generic, TypeVar

from agenttasks.api.meta import Key

V = TypeVar("V")
Body = dict[str, Any]


class Index(Mapping[Key, Collection[V]], Generic[V]):
    def __init__(self, contribution: Callable[[Body], Mapping[Key, V]]) -> None:
        self._contribution = contribution
        self._by_key: dict[Key, dict[str, V]] = {}
        self._keys_of: dict[str, tuple[Key, ...]] = {}

    def apply(self, kind: str, body: Body,
              contributed: Mapping[Key, V] | None = None) -> None:
        """Takes one watch event (ADDED, MODIFIED or DELETED) into the index; a caller that
        has already read the body passes what it contributes, so it is not read twice."""
        uid = str(body["metadata"]["uid"])
        for key in self._keys_of.pop(uid, ()):
            values = self._by_key.get(key)
            if values is not None:
                values.pop(uid, None)
                if not values:
                    del self._by_key[key]
        if kind == "DELETED":
            return
        if contributed is None:
            contributed = self._contribution(body)
        for key, value in contributed.items():
            self._by_key.setdefault(key, {})[uid] = value
        if contributed:
            self._keys_of[uid] = tuple(contributed)

    def __getitem__(self, key: Key) -> Collection[V]:
        return self._by_key[key].values()

    def __iter__(self) -> Iterator[Key]:
        return iter(self._by_key)

    def __len__(self) -> int:
        return len(self._by_key)
