"""Item numbers as compact ranges ("0-2,5,7-19"), the notation of a Job's completedIndexes.

Pure and bounded: a list never holds more than MAX_ITEMS numbers, whatever the text says, so
a hand-edited Job or status cannot make the operator build a huge list.
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_ITEMS = 100_000  # spec.completions' bound


def parse_ranges(text: str | None, limit: int = MAX_ITEMS) -> list[int]:
    """The ascending, distinct numbers of ``text``; ValueError for malformed text or more
    than ``limit`` numbers."""
    numbers: set[int] = set()
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        low, dash, high = part.partition("-")
        first, last = int(low), int(high) if dash else int(low)
        if first < 0 or last < first:
            raise ValueError(f"{part!r} is not a range of item numbers")
        if len(numbers) + (last - first + 1) > limit:
            raise ValueError(f"more than {limit} item numbers")
        numbers.update(range(first, last + 1))
    return sorted(numbers)


def format_ranges(numbers: Iterable[int]) -> str:
    """``numbers`` as compact ranges: runs of three or more as ``a-b``, as the Job does."""
    ordered = sorted(set(numbers))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        if j - i >= 2:
            parts.append(f"{ordered[i]}-{ordered[j]}")
        else:
            parts.extend(str(n) for n in ordered[i:j + 1])
        i = j + 1
    return ",".join(parts)


def items_at(indexes: str | None, items: list[int]) -> list[int]:
    """The item numbers at completion ``indexes`` of an attempt that ran ``items`` (index i
    runs ``items[i]``); indexes beyond the list are ignored."""
    return [items[i] for i in parse_ranges(indexes) if i < len(items)]
