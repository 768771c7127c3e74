"""Next-fire computation, including both daylight-saving transitions in two time zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from agenttasks.core.cron import ScheduleError, parse


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def fires(expression: str, zone: str, start: datetime, count: int) -> list[datetime]:
    cron, out, cursor = parse(expression, zone), [], start
    for _ in range(count):
        nxt = cron.next_after(cursor)
        assert nxt is not None
        out.append(nxt)
        cursor = nxt
    return out


def test_plain_utc_schedule() -> None:
    assert fires("*/15 * * * *", "UTC", utc(2026, 1, 1, 10, 7), 3) == [
        utc(2026, 1, 1, 10, 15), utc(2026, 1, 1, 10, 30), utc(2026, 1, 1, 10, 45)]


def test_next_is_strictly_after() -> None:
    assert parse("0 * * * *", "UTC").next_after(utc(2026, 1, 1, 10)) == utc(2026, 1, 1, 11)


def test_macros() -> None:
    assert fires("@daily", "UTC", utc(2026, 1, 1, 10), 1) == [utc(2026, 1, 2)]
    assert fires("@hourly", "UTC", utc(2026, 1, 1, 10, 1), 1) == [utc(2026, 1, 1, 11)]
    assert fires("@weekly", "UTC", utc(2026, 1, 1), 1) == [utc(2026, 1, 4)]  # Sunday
    assert fires("@monthly", "UTC", utc(2026, 1, 1), 1) == [utc(2026, 2, 1)]
    assert fires("@yearly", "UTC", utc(2026, 1, 1), 1) == [utc(2027, 1, 1)]


def test_daily_report_in_new_york_follows_local_time() -> None:
    # 2 AM local: 07:00 UTC in winter (EST), 06:00 UTC in summer (EDT).
    assert fires("0 2 * * *", "America/New_York", utc(2026, 1, 10), 1) == [utc(2026, 1, 10, 7)]
    assert fires("0 2 * * *", "America/New_York", utc(2026, 7, 10), 1) == [utc(2026, 7, 10, 6)]


# --- Spring forward: a local time that does not exist ---------------------------------------

def test_new_york_skipped_time_fires_the_gap_length_after_the_jump() -> None:
    # 2026-03-08: clocks jump 02:00 EST -> 03:00 EDT, so 02:30 does not exist that day.
    assert fires("30 2 * * *", "America/New_York", utc(2026, 3, 7, 12), 3) == [
        utc(2026, 3, 8, 7, 30),   # 03:30 EDT, once
        utc(2026, 3, 9, 6, 30),   # 02:30 EDT
        utc(2026, 3, 10, 6, 30),
    ]


def test_berlin_skipped_time() -> None:
    # 2026-03-29: clocks jump 02:00 CET -> 03:00 CEST.
    assert fires("15 2 * * *", "Europe/Berlin", utc(2026, 3, 28, 12), 2) == [
        utc(2026, 3, 29, 1, 15),  # 03:15 CEST
        utc(2026, 3, 30, 0, 15),  # 02:15 CEST
    ]


def test_frequent_schedule_has_no_duplicate_in_the_gap() -> None:
    # Wall times 02:00 and 02:30 do not exist; they would land on 03:00 and 03:30, which
    # fire anyway. Each instant fires once, an hour apart from the last pre-jump fire.
    got = fires("0,30 * * * *", "America/New_York", utc(2026, 3, 8, 6), 4)
    assert got == [utc(2026, 3, 8, 6, 30), utc(2026, 3, 8, 7), utc(2026, 3, 8, 7, 30),
                   utc(2026, 3, 8, 8)]


# --- Fall back: a local time that occurs twice ----------------------------------------------

def test_new_york_repeated_time_fires_once_at_first_occurrence() -> None:
    # 2026-11-01: clocks fall back 02:00 EDT -> 01:00 EST, so 01:30 happens twice.
    assert fires("30 1 * * *", "America/New_York", utc(2026, 10, 31, 12), 2) == [
        utc(2026, 11, 1, 5, 30),  # 01:30 EDT; not again at 01:30 EST
        utc(2026, 11, 2, 6, 30),  # 01:30 EST
    ]


def test_berlin_repeated_time_fires_once() -> None:
    # 2026-10-25: clocks fall back 03:00 CEST -> 02:00 CET, so 02:30 happens twice.
    assert fires("30 2 * * *", "Europe/Berlin", utc(2026, 10, 24, 12), 2) == [
        utc(2026, 10, 25, 0, 30),  # 02:30 CEST
        utc(2026, 10, 26, 1, 30),  # 02:30 CET
    ]


def test_hour_wildcard_fires_in_both_occurrences() -> None:
    # Elapsed-time schedules keep their rhythm: every 30 real minutes through the repeat.
    got = fires("*/30 * * * *", "America/New_York", utc(2026, 11, 1, 4, 45), 6)
    assert got == [utc(2026, 11, 1, 5), utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6),
                   utc(2026, 11, 1, 6, 30), utc(2026, 11, 1, 7), utc(2026, 11, 1, 7, 30)]


def test_latest_at_or_before_and_counting() -> None:
    cron = parse("0 * * * *", "UTC")
    assert cron.latest_at_or_before(utc(2026, 1, 1, 10, 59)) == utc(2026, 1, 1, 10)
    assert cron.latest_at_or_before(utc(2026, 1, 1, 10)) == utc(2026, 1, 1, 10)
    assert cron.count_between(utc(2026, 1, 1, 0), utc(2026, 1, 1, 5)) == 5
    assert cron.count_between(utc(2026, 1, 1, 0), utc(2026, 2, 1), cap=100) == 100


def test_latest_at_or_before_across_fall_back() -> None:
    cron = parse("30 1 * * *", "America/New_York")
    # After the second 01:30 (EST) the latest fire is still the first one (EDT).
    assert cron.latest_at_or_before(utc(2026, 11, 1, 7)) == utc(2026, 11, 1, 5, 30)


@pytest.mark.parametrize(("expression", "zone", "field", "text"), [
    ("61 * * * *", "UTC", "spec.schedule", "not a valid cron expression"),
    ("* * * *", "UTC", "spec.schedule", "five fields"),
    ("* * * * * *", "UTC", "spec.schedule", "five fields"),
    ("@reboot", "UTC", "spec.schedule", "unknown macro"),
    ("0 0 30 2 *", "UTC", "spec.schedule", "not a valid"),
    ("* * * * *", "Mars/Olympus_Mons", "spec.timeZone", "unknown time zone"),
    ("* * * * *", "../etc/passwd", "spec.timeZone", "unknown time zone"),
])
def test_invalid_schedules_name_the_field(expression: str, zone: str, field: str,
                                         text: str) -> None:
    with pytest.raises(ScheduleError) as info:
        parse(expression, zone)
    assert info.value.field == field
    assert text in str(info.value) and str(info.value).startswith(field)


def test_a_tzdata_folder_is_not_a_time_zone() -> None:
    for folder in ("Europe", "America"):
        with pytest.raises(ScheduleError, match=r"spec\.timeZone"):
            parse("0 2 * * *", folder)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["*/7 * * * *", "0 3 * * *", "30 2 * * 0", "15 9-17 * * 1-5",
                        "0 0 1 * *", "@hourly"]),
       st.sampled_from(["UTC", "America/New_York", "Europe/Berlin"]),
       st.lists(st.tuples(st.booleans(), st.integers(0, 4 * 365 * 24 * 60)), min_size=1,
                max_size=6))
def test_scans_walk_as_a_new_croniter_would(expression: str, zone: str,
                                            scans: list[tuple[bool, int]]) -> None:
    """Each scan walks a copy of one shared, never-walked croniter: interleaved scans forward
    and back, from any start, find what a croniter made for that scan finds in UTC."""
    cron = parse(expression, zone)
    for forward, minutes in scans:
        at = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes, seconds=17)
        found = cron.next_after(at) if forward else cron.latest_at_or_before(at)
        if zone == "UTC":  # no DST: the fire is croniter's own answer
            walker = croniter(expression, at.replace(tzinfo=None))
            wall = walker.get_next(datetime) if forward else walker.get_prev(datetime)
            assert found == wall.replace(tzinfo=UTC)
        else:
            assert found is not None and (found > at if forward else found <= at)
