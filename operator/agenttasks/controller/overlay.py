"""One kind's index, overlaid with the statuses we have written and whose watch events
have not arrived yet, so a reconcile never acts on a status older than our own write."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any, Generic, Protocol, TypeVar

from agenttasks.api.meta import Key


def revision(resource_version: str) -> int:
    # Opaque by contract, but etcd revisions in practice; unparsable ones compare as oldest.
    try:
        return int(resource_version)
    except ValueError:
        return -1


class _Facts(Protocol):
    @property
    def resource_version(self) -> str: ...


F = TypeVar("F", bound=_Facts)


def _replace_status(facts: Any, status: Any, resource_version: str) -> Any:
    return replace(facts, status=status, resource_version=resource_version)


class OverlaidIndex(Generic[F]):
    """``with_status`` puts a written status in place of an entry's (by default its
    ``status`` field; task summaries hold only what they need of it)."""

    def __init__(self, with_status: Callable[[F, Any, str], F] = _replace_status) -> None:
        self._index: Mapping[Key, Iterable[F]] | None = None
        self._written: dict[Key, tuple[int, Any]] = {}
        self._with_status = with_status

    def attach(self, index: Mapping[Key, Any]) -> None:
        self._index = index

    def get(self, key: Key) -> F | None:
        if self._index is None:
            return None
        facts = next(iter(self._index.get(key, ())), None)
        if facts is None:
            self._written.pop(key, None)
            return None
        written = self._written.get(key)
        if written and written[0] > revision(facts.resource_version):
            return self._with_status(facts, written[1], str(written[0]))
        self._written.pop(key, None)
        return facts

    def keys(self) -> list[Key]:
        return list(self._index) if self._index is not None else []

    def remember_status(self, key: Key, resource_version: str, status: Any) -> None:
        self._written[key] = (revision(resource_version), status)

    def is_own_write(self, key: Key, resource_version: str) -> bool:
        """Whether ``resource_version`` is the one our last status write returned: the event
        then shows what we wrote and nothing else (any other change has its own revision,
        and its own event, which is not skipped)."""
        written = self._written.get(key)
        return written is not None and written[0] == revision(resource_version)
