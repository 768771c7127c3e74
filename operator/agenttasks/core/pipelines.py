"""What a task's pods are told of the tasks it depends on: the inputs document.

Each attempt of a task with ``dependsOn`` gets one JSON document (the file named by
AGENTTASK_INPUTS): a list with one entry per dependency, in ``dependsOn``'s order::

    [{"name": "extract", "phase": "Completed", "reason": "Succeeded",
      "result": {"attempt": 1, "message": "s3://bucket/orders.parquet"}}]

``result`` is the dependency's ``status.result`` (the attempt whose termination message it
is, and the message), or null when it has none; a dependency gone since it completed (its
ttlAfterFinished) has ``phase``, ``reason`` and ``result`` null.

Rules of size (the document rides in an annotation, whose object allows 256 KiB in all):

- the whole document, as UTF-8 JSON, is at most ``INPUTS_MAX_BYTES`` (64 KiB);
- the metadata (name, phase, reason, attempt) of every dependency is always kept whole:
  ``dependsOn`` holds at most 64 names of tasks (at most 63 characters), so it needs about
  11 KiB at most;
- when the messages do not all fit, they share what is left fairly (max-min): a message
  shorter than an equal share is kept whole, and the longest are cut to equal shares, at a
  character boundary. A cut result says so: ``"truncated": true`` and ``"messageBytes"``,
  the size of the whole message in UTF-8.

A result is a termination message (at most 4 KiB), so 15 results of 4 KiB of text always
fit whole; larger outputs belong in an object store, with their path in the result.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

INPUTS_MAX_BYTES = 64 * 1024
# What ``"truncated":true,"messageBytes":N`` adds to a result, N of up to 10 digits: kept
# aside for each cut message before the shares are counted.
_MARKER_BYTES = len(',"truncated":true,"messageBytes":') + 10


@dataclass(frozen=True)
class DependencyResult:
    """One dependency as its dependent's Job is created. ``phase`` None: it is gone."""

    name: str
    phase: str | None = None
    reason: str | None = None
    attempt: int | None = None
    """status.result.attempt; None: the dependency has no result."""
    message: str = ""


def inputs_document(dependencies: Sequence[DependencyResult],
                    max_bytes: int = INPUTS_MAX_BYTES) -> str:
    """The document for ``dependencies`` (one entry per name, the first of duplicates, in
    their order), at most ``max_bytes`` in UTF-8 unless the metadata and the markers of the
    cut messages alone are larger (they are never cut)."""
    first: dict[str, DependencyResult] = {}
    for dep in dependencies:
        first.setdefault(dep.name, dep)
    unique = list(first.values())
    whole = _dump([_entry(d, d.message) for d in unique])
    if len(whole.encode()) <= max_bytes:
        return whole
    with_results = [i for i, d in enumerate(unique) if d.attempt is not None]
    sizes = {i: _escaped_bytes(unique[i].message) for i in with_results}
    bare = len(_dump([_entry(d, "") for d in unique]).encode())
    shares = _fair_shares(sizes, max_bytes - bare)
    entries = []
    for i, dep in enumerate(unique):
        share = shares.get(i)
        kept = dep.message if share is None else _cut(dep.message, share)
        cut = len(kept) < len(dep.message)
        entries.append(_entry(dep, kept, len(dep.message.encode()) if cut else None))
    return _dump(entries)


def _entry(dep: DependencyResult, message: str, whole_bytes: int | None = None
           ) -> dict[str, Any]:
    result: dict[str, Any] | None = None
    if dep.attempt is not None:
        result = {"attempt": dep.attempt, "message": message}
        if whole_bytes is not None:
            result.update(truncated=True, messageBytes=whole_bytes)
    return {"name": dep.name, "phase": dep.phase, "reason": dep.reason, "result": result}


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _escaped_bytes(text: str) -> int:
    """The UTF-8 size of ``text`` inside a JSON string, without its quotes."""
    return len(_dump(text).encode()) - 2


def _fair_shares(sizes: dict[int, int], budget: int) -> dict[int, int]:
    """Which messages are cut, and to how many escaped bytes each (max-min fair): the others
    are whole. ``budget``: the bytes all messages and markers may take together."""
    order = sorted(sizes, key=lambda i: (sizes[i], i))
    for kept in range(len(order), -1, -1):
        cut = order[kept:]
        room = budget - sum(sizes[i] for i in order[:kept]) - _MARKER_BYTES * len(cut)
        if not cut:
            if room >= 0:
                return {}
            continue
        share = max(room // len(cut), 0)
        # Valid when every kept message fits under the share the cut ones get.
        if kept == 0 or sizes[order[kept - 1]] <= share:
            return dict.fromkeys(cut, share)
    return dict.fromkeys(order, 0)  # pragma: no cover - kept == 0 always returns


def _cut(text: str, limit: int) -> str:
    """The longest prefix of ``text`` (in characters) whose escaped size is within
    ``limit`` bytes: a binary search, as one character takes 1 to 6 bytes."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if _escaped_bytes(text[:middle]) <= limit:
            low = middle
        else:
            high = middle - 1
    return text[:low]
