"""What a split receiver tells the operator: the delivery counts (and Warning notices) it
gathered since its last report, as JSON, and how the operator reads a report.

The receiver parses untrusted webhook bodies, so it gets no right to write trigger status:
the trigger reconciler stays the one writer of ``status.deliveries``. Every few seconds the
receiver sends what it counted to the operator, which adds it to its own DeliveryCounts
inbox; the reconciler flushes that as it always did (docs/trigger.md, "A split receiver").

A report comes from an authenticated peer, and is still read with bounds: at most
MAX_TRIGGERS triggers and MAX_NOTICES notices, counts up to MAX_COUNT, a notice only of a
reason in NOTICE_REASONS with a short message. Anything else refuses the whole report.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from agenttasks.api.meta import Key
from agenttasks.core.triggers import PendingCounts

MAX_TRIGGERS = 1000  # per report; a receiver with more pending sends several
MAX_NOTICES = 100
MAX_COUNT = 10**9
MAX_MESSAGE = 1024  # an Event's message is cut there anyway
MAX_NAME = 253
MAX_REPORT_BYTES = 1024 * 1024  # MAX_TRIGGERS entries of the longest names fit, with room
# The Events a receiver may ask the operator to post (the receiver may not create Events).
NOTICE_REASONS = frozenset({"FilterTimedOut"})
_OUTCOMES = ("accepted", "duplicate", "rejected")


@dataclass(frozen=True)
class Notice:
    """A Warning Event the receiver asks the operator to post on a trigger."""

    namespace: str
    name: str
    reason: str
    message: str

    @property
    def key(self) -> Key:
        return (self.namespace, self.name)


@dataclass
class Report:
    counts: dict[Key, PendingCounts] = field(default_factory=dict)
    notices: list[Notice] = field(default_factory=list)


def service_account_user(namespace: str, name: str) -> str:
    """The username a TokenReview gives a ServiceAccount's token."""
    return f"system:serviceaccount:{namespace}:{name}"


def plus(a: PendingCounts, b: PendingCounts) -> PendingCounts:
    """Both counts together: the sums, and the later of the two times."""
    times = [t for t in (a.last_triggered, b.last_triggered) if t is not None]
    return PendingCounts(a.accepted + b.accepted, a.duplicate + b.duplicate,
                         a.rejected + b.rejected, max(times) if times else None)


def report_body(counts: Mapping[Key, PendingCounts], notices: Iterable[Notice] = ()
                ) -> dict[str, Any]:
    """The JSON of one report (the caller keeps within MAX_TRIGGERS and MAX_NOTICES)."""
    entries = []
    for (namespace, name), pending in counts.items():
        entry: dict[str, Any] = {"namespace": namespace, "name": name,
                                 **{o: getattr(pending, o) for o in _OUTCOMES}}
        if pending.last_triggered is not None:
            entry["lastTriggered"] = pending.last_triggered.astimezone(UTC).isoformat()
        entries.append(entry)
    return {"counts": entries,
            "notices": [{"namespace": n.namespace, "name": n.name, "reason": n.reason,
                         "message": n.message} for n in notices]}


def parse_report(body: Any) -> Report:
    """The report in ``body`` (parsed JSON); ValueError names what is wrong with it."""
    if not isinstance(body, dict):
        raise ValueError("a report is a JSON object")
    counts, notices = body.get("counts", []), body.get("notices", [])
    if not isinstance(counts, list) or len(counts) > MAX_TRIGGERS:
        raise ValueError(f"counts must be a list of at most {MAX_TRIGGERS} entries")
    if not isinstance(notices, list) or len(notices) > MAX_NOTICES:
        raise ValueError(f"notices must be a list of at most {MAX_NOTICES} entries")
    report = Report()
    for entry in counts:
        key, pending = _counts(entry)
        report.counts[key] = plus(report.counts.get(key, PendingCounts()), pending)
    report.notices = [_notice(entry) for entry in notices]
    return report


def _key(entry: Any) -> Key:
    if not isinstance(entry, dict):
        raise ValueError("each entry is a JSON object")
    namespace, name = entry.get("namespace"), entry.get("name")
    for value in (namespace, name):
        if not isinstance(value, str) or not 0 < len(value) <= MAX_NAME:
            raise ValueError("namespace and name must be non-empty strings")
    return (str(namespace), str(name))


def _counts(entry: Any) -> tuple[Key, PendingCounts]:
    key = _key(entry)
    accepted, duplicate, rejected = numbers = [entry.get(o, 0) for o in _OUTCOMES]
    for number in numbers:
        # bool is an int in Python; JSON true is not a count.
        if type(number) is not int or not 0 <= number <= MAX_COUNT:
            raise ValueError(f"counts must be integers from 0 to {MAX_COUNT}")
    when = entry.get("lastTriggered")
    last = None
    if when is not None:
        if not isinstance(when, str) or len(when) > 64:
            raise ValueError("lastTriggered must be an RFC 3339 time")
        last = datetime.fromisoformat(when.replace("Z", "+00:00"))  # ValueError if not
        if last.tzinfo is None:
            raise ValueError("lastTriggered must carry its offset")
    return key, PendingCounts(accepted, duplicate, rejected, last)


def _notice(entry: Any) -> Notice:
    key = _key(entry)
    reason, message = entry.get("reason"), entry.get("message")
    if reason not in NOTICE_REASONS:
        raise ValueError(f"a notice's reason is one of {sorted(NOTICE_REASONS)}")
    if not isinstance(message, str):
        raise ValueError("a notice's message is a string")
    return Notice(*key, str(reason), message[:MAX_MESSAGE])
