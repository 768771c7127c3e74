"""A split receiver's reports of delivery counts: what it sends, and what the operator
takes (core.delivery_reports), with the inbox they leave and arrive in."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from agenttasks.core.delivery_reports import (
    MAX_COUNT,
    MAX_MESSAGE,
    MAX_NOTICES,
    MAX_TRIGGERS,
    Notice,
    parse_report,
    plus,
    report_body,
    service_account_user,
)
from agenttasks.core.triggers import PendingCounts
from agenttasks.inbox.delivery_counts import DeliveryCounts

T0 = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)


def entry(**fields: Any) -> dict[str, Any]:
    return {"namespace": "a", "name": "gh", **fields}


def test_a_report_says_what_was_counted_and_reads_back_the_same() -> None:
    counts = {("a", "gh"): PendingCounts(3, 1, 2, T0), ("b", "x"): PendingCounts(rejected=4)}
    notice = Notice("a", "gh", "FilterTimedOut", "ran over 2s")
    # Through JSON text, as it travels.
    report = parse_report(json.loads(json.dumps(report_body(counts, [notice]))))
    assert report.counts == counts
    assert report.notices == [notice]


def test_an_empty_report_is_a_report() -> None:
    assert parse_report({}).counts == {} and parse_report({}).notices == []
    assert report_body({}) == {"counts": [], "notices": []}


def test_entries_of_one_trigger_add_up() -> None:
    later = T0 + timedelta(seconds=5)
    report = parse_report({"counts": [
        entry(accepted=1, lastTriggered=later.isoformat()),
        entry(accepted=2, duplicate=1, lastTriggered=T0.isoformat())]})
    assert report.counts == {("a", "gh"): PendingCounts(3, 1, 0, later)}


def test_a_time_in_another_offset_is_the_same_instant() -> None:
    east = T0.astimezone(timezone(timedelta(hours=2))).isoformat()
    report = parse_report({"counts": [entry(accepted=1, lastTriggered=east)]})
    assert report.counts[("a", "gh")].last_triggered == T0
    zulu = parse_report({"counts": [entry(lastTriggered="2026-01-01T12:00:00Z")]})
    assert zulu.counts[("a", "gh")].last_triggered == T0.replace(microsecond=0)


@pytest.mark.parametrize("body", [
    [],  # not an object
    {"counts": {}},
    {"counts": [entry()] * (MAX_TRIGGERS + 1)},
    {"notices": [{"namespace": "a", "name": "gh", "reason": "FilterTimedOut",
                  "message": ""}] * (MAX_NOTICES + 1)},
    {"counts": ["a/gh"]},
    {"counts": [{"name": "gh", "accepted": 1}]},
    {"counts": [entry(namespace="")]},
    {"counts": [entry(name="x" * 254)]},
    {"counts": [entry(accepted=-1)]},
    {"counts": [entry(accepted=MAX_COUNT + 1)]},
    {"counts": [entry(accepted=1.0)]},
    {"counts": [entry(accepted=True)]},  # JSON true is no count
    {"counts": [entry(accepted="1")]},
    {"counts": [entry(lastTriggered="yesterday")]},
    {"counts": [entry(lastTriggered="2026-01-01T12:00:00")]},  # no offset
    {"counts": [entry(lastTriggered=1767268800)]},
    {"notices": [entry(reason="Pwned", message="x")]},  # only reasons the receiver has
    {"notices": [entry(reason="FilterTimedOut", message=7)]},
])
def test_a_malformed_report_is_refused_whole(body: Any) -> None:
    with pytest.raises(ValueError):
        parse_report(body)


def test_a_notice_message_is_cut_to_what_an_event_holds() -> None:
    report = parse_report({"notices": [entry(reason="FilterTimedOut",
                                             message="m" * (MAX_MESSAGE * 3))]})
    assert len(report.notices[0].message) == MAX_MESSAGE


def test_plus_sums_and_keeps_the_later_time() -> None:
    assert plus(PendingCounts(1, 2, 3, T0), PendingCounts(1, 1, 1, None)) == \
        PendingCounts(2, 3, 4, T0)
    assert plus(PendingCounts(), PendingCounts()) == PendingCounts()
    assert plus(PendingCounts(last_triggered=T0 + timedelta(1)),
                PendingCounts(last_triggered=T0)).last_triggered == T0 + timedelta(1)


def test_the_receiver_is_known_by_its_service_account() -> None:
    assert service_account_user("agenttasks-system", "agenttasks-receiver") == \
        "system:serviceaccount:agenttasks-system:agenttasks-receiver"


def test_the_inbox_hands_over_everything_and_takes_back_what_was_not_sent() -> None:
    counts = DeliveryCounts()
    woken: list[tuple[str, str]] = []
    counts.on_change = woken.append
    counts.count(("a", "gh"), "accepted", T0)
    counts.count(("a", "other"), "rejected")
    taken = counts.take_all()
    assert taken == {("a", "gh"): PendingCounts(1, 0, 0, T0),
                     ("a", "other"): PendingCounts(rejected=1)}
    assert len(counts) == 0
    counts.count(("a", "gh"), "duplicate")  # counted while the report was on its way
    counts.give_back(("a", "gh"), taken[("a", "gh")])
    assert counts.take(("a", "gh")) == PendingCounts(1, 1, 0, T0)
    woken.clear()
    counts.add(("b", "x"), PendingCounts(accepted=2))  # a report's counts wake the flush
    counts.add(("b", "y"), PendingCounts())  # and nothing does not
    assert woken == [("b", "x")] and counts.take_all() == {("b", "x"): PendingCounts(2)}
