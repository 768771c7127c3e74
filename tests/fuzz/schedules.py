"""AgentTaskSchedule specs: valid crons and time zones, odd ones, and invalid ones."""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

from hypothesis import strategies as st

from tests.fuzz import tasks
from tests.fuzz import values as v
from tests.fuzz.cases import MISSING, Case, Expect, Kind

MAX_NAME = 52


def _field(low: int, high: int) -> st.SearchStrategy[str]:
    """One cron field within [low, high]: *, n, a-b, */step, a-b/step or a list."""
    number = st.integers(low, high)
    single = st.one_of(
        st.just("*"), number.map(str),
        st.tuples(number, number).map(lambda p: f"{min(p)}-{max(p)}"),
        st.integers(1, high - low + 1).map(lambda step: f"*/{step}"))
    return st.lists(single, min_size=1, max_size=3).map(",".join)


# Day-of-month stays at most 28 so that every generated expression has a next fire.
valid_cron = st.one_of(
    st.tuples(_field(0, 59), _field(0, 23), _field(1, 28), _field(1, 12), _field(0, 6))
    .map(" ".join),
    st.sampled_from(["@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually",
                     "@midnight"]),
)
odd_cron = st.sampled_from([
    "0 0 29 2 *", "59 23 31 12 *", "*/7 * * * *", "0 2 * * 0,6", "0 0 * * 7",
    "0 0 * * MON-FRI", "0 0 1 JAN,JUL *", "  0   3 * * *  ", "0-59/59 0-23/23 1-31/30 * *",
    "30 2 * * *", "0 0 31 * *"])
invalid_cron = st.one_of(
    st.sampled_from(["61 * * * *", "* 24 * * *", "* * 32 * *", "* * * 13 *", "* * * * 8",
                     "* * *", "* * * * * *", "@fortnightly", "@", "*/0 * * * *", "0 0 30 2 *",
                     "0 0 31 4 *", "a b c d e", "-1 * * * *", "1/ * * * *", "0 0 ,, * *",
                     "\u0000 * * * *", "٣ * * * *", "   "]),
    st.text(v.unicode_text, min_size=1, max_size=40).filter(lambda s: len(s.split()) not in
                                                              (1, 5)),
)
valid_zone = st.sampled_from([
    "UTC", "America/New_York", "Europe/London", "Asia/Kathmandu", "Pacific/Chatham",
    "Australia/Lord_Howe", "Etc/GMT+12", "Etc/GMT-14", "Pacific/Kiritimati",
    "America/Argentina/ComodRivadavia", "Antarctica/Troll", "Asia/Tehran", "Europe/Dublin"])
invalid_zone = st.one_of(
    st.sampled_from(["Mars/Olympus_Mons", "UTC+25", "Europe/", "Europe", "America",
                     "../../etc/passwd", "/etc/localtime", "utc ", "Europe//Paris", ".",
                     "\u0000", "日本"]),
    st.text(st.characters(codec="ascii", categories=("L", "N", "P")), min_size=1,
            max_size=20).filter(lambda s: "/" not in s and s not in available_timezones()),
)


@st.composite
def valid_spec(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {"schedule": draw(valid_cron),
                            "taskTemplate": {"spec": draw(tasks.valid_spec())}}
    if draw(st.booleans()):
        spec["timeZone"] = draw(valid_zone)
    if draw(st.booleans()):
        spec["concurrencyPolicy"] = draw(st.sampled_from(["Allow", "Forbid", "Replace"]))
    if draw(st.booleans()):
        spec["suspend"] = draw(st.booleans())
    if draw(st.booleans()):
        spec["startingDeadline"] = draw(v.valid_duration)
    if draw(st.booleans()):
        spec["successfulTasksHistoryLimit"] = draw(st.integers(0, 100))
        spec["failedTasksHistoryLimit"] = draw(st.integers(0, 100))
    if draw(st.booleans()):
        spec["taskTemplate"]["metadata"] = {"labels": {"team": "fuzz"},
                                            "annotations": {"note": draw(v.text(50))}}
    return spec


@st.composite
def valid_case(draw: st.DrawFn) -> Case:
    return Case(Kind.SCHEDULE, draw(valid_spec()), Expect.VALID, "valid")


@st.composite
def edge_case(draw: st.DrawFn, pick: int) -> Case:
    spec = draw(valid_spec())
    choices = [
        ("odd cron", {**spec, "schedule": draw(odd_cron)}, 0),
        ("odd time zone", {**spec, "timeZone": draw(valid_zone)}, 0),
        ("history limits at bounds", {**spec, "successfulTasksHistoryLimit": 100,
                                      "failedTasksHistoryLimit": 0}, 0),
        ("edge startingDeadline", {**spec, "startingDeadline": draw(v.edge_duration)}, 0),
        ("name of 52 characters", spec, MAX_NAME),
        ("task template at the edge", {**spec, "taskTemplate": {
            "spec": draw(tasks.edge_case()).spec}}, 0),
    ]
    why, chosen, length = choices[pick % len(choices)]
    return Case(Kind.SCHEDULE, chosen, Expect.EDGE, why, length)


@st.composite
def invalid_case(draw: st.DrawFn, pick: int) -> Case:
    spec = draw(valid_spec())
    task_mutant = draw(tasks.invalid_case())
    choices = [
        ("bad cron", {**spec, "schedule": draw(invalid_cron)}, 0),
        ("bad time zone", {**spec, "timeZone": draw(invalid_zone)}, 0),
        ("empty schedule", {**spec, "schedule": ""}, 0),
        ("schedule too long", {**spec, "schedule": "0 0 * * " + "1," * 200 + "2"}, 0),
        ("time zone too long", {**spec, "timeZone": "A" * 65}, 0),
        ("bad concurrencyPolicy", {**spec, "concurrencyPolicy": draw(st.sampled_from(
            ["Sometimes", "allow", "", 1]))}, 0),
        ("history limit out of bounds", {**spec, "successfulTasksHistoryLimit": draw(
            st.sampled_from([-1, 101, "3"]))}, 0),
        ("bad startingDeadline", {**spec, "startingDeadline": draw(v.invalid_duration)}, 0),
        ("huge startingDeadline", {**spec, "startingDeadline": draw(v.huge_duration)}, 0),
        ("suspend of wrong type", {**spec, "suspend": "no"}, 0),
        ("taskTemplate missing", {k: val for k, val in spec.items() if k != "taskTemplate"}, 0),
        ("schedule missing", {k: val for k, val in spec.items() if k != "schedule"}, 0),
        ("unknown field", {**spec, "every": "5m"}, 0),
        ("spec missing", MISSING, 0),
        ("name over 52 characters", spec, MAX_NAME + 1),
        (f"taskTemplate: {task_mutant.why}",
         {**spec, "taskTemplate": {"spec": task_mutant.spec}}
         if task_mutant.spec is not MISSING else {**spec, "taskTemplate": {}}, 0),
    ]
    why, chosen, length = choices[pick % len(choices)]
    if task_mutant.why in tasks.ONLY_ON_ITS_OWN and why == f"taskTemplate: {task_mutant.why}":
        return Case(Kind.SCHEDULE, chosen, Expect.VALID, why, length)
    return Case(Kind.SCHEDULE, chosen, Expect.INVALID, why, length)


def batches() -> list[tuple[st.SearchStrategy[Case], int]]:
    """(strategy, examples): every edge and invalid variant, plus valid specs."""
    return [(valid_case(), 10), *[(edge_case(i), 3) for i in range(6)],
            *[(invalid_case(i), 2) for i in range(16)]]
