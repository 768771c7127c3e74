"""Cron schedules in a time zone: when they fire, as UTC instants.

croniter walks local wall-clock times; mapping those to instants is done here, so that
daylight-saving transitions follow one documented rule (docs/schedule.md):

- A wall time that does not exist (clocks spring forward over it) fires at the same
  distance after the transition: 02:30 on a day that jumps 02:00 -> 03:00 fires at 03:30.
  Fires that land on the same instant fire once.
- A wall time that occurs twice (clocks fall back) fires once, at its first occurrence,
  unless the hour field is `*`: such schedules track elapsed time (every 15 minutes,
  hourly), so they fire in both occurrences.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from croniter.croniter import CroniterError

MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
# DST transitions are months apart: within this distance of an instant there is at most one.
_NEAR = timedelta(hours=3)
_SCAN_LIMIT = 10_000


class ScheduleError(ValueError):
    """A schedule that cannot run; ``field`` names the spec field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class Cron:
    expression: str
    zone: ZoneInfo
    hour_is_wildcard: bool

    def next_after(self, after: datetime) -> datetime | None:
        """The first fire strictly after ``after`` (an aware datetime), in UTC."""
        best: datetime | None = None
        start = _wall(after, self.zone) - self._margin(after)
        for wall in self._walls(start, forward=True):
            if best is not None and wall > _wall(best, self.zone) + self._margin(best):
                break
            for instant in self._instants(wall):
                if instant > after and (best is None or instant < best):
                    best = instant
        return best

    def latest_at_or_before(self, at: datetime) -> datetime | None:
        """The last fire at or before ``at``, in UTC."""
        best: datetime | None = None
        # croniter steps back strictly before its start; a second later keeps `at` itself.
        start = _wall(at, self.zone) + self._margin(at) + timedelta(seconds=1)
        for wall in self._walls(start, forward=False):
            if best is not None and wall < _wall(best, self.zone) - self._margin(best):
                break
            for instant in self._instants(wall):
                if instant <= at and (best is None or instant > best):
                    best = instant
        return best

    def count_between(self, after: datetime, until: datetime, cap: int = 1000) -> int:
        """How many fires lie in (after, until], counting at most ``cap``."""
        count, cursor = 0, after
        while count < cap:
            fire = self.next_after(cursor)
            if fire is None or fire > until:
                break
            count, cursor = count + 1, fire
        return count

    def _margin(self, instant: datetime) -> timedelta:
        """How far wall time and instant order can disagree near ``instant``: the size of a
        DST shift within a few hours of it, else zero (so scans stay a step or two long)."""
        before = (instant - _NEAR).astimezone(self.zone).utcoffset() or timedelta(0)
        after = (instant + _NEAR).astimezone(self.zone).utcoffset() or timedelta(0)
        return abs(after - before)

    def _walls(self, start: datetime, forward: bool) -> Iterator[datetime]:
        walker = copy.copy(_unwalked(self.expression))  # shares the expanded fields
        walker.set_current(start, force=True)
        for _ in range(_SCAN_LIMIT):
            try:
                yield walker.get_next(datetime) if forward else walker.get_prev(datetime)
            except CroniterError:
                return

    def _instants(self, wall: datetime) -> list[datetime]:
        first = wall.replace(tzinfo=self.zone, fold=0)
        second = wall.replace(tzinfo=self.zone, fold=1)
        first_utc, second_utc = first.astimezone(UTC), second.astimezone(UTC)
        if first_utc == second_utc:
            return [first_utc]
        if _wall(first_utc, self.zone) != wall:
            # Skipped wall time: fold=0 reads it with the offset from before the jump,
            # which places it the gap's length after the transition.
            return [first_utc]
        # Repeated wall time.
        return [first_utc, second_utc] if self.hour_is_wildcard else [first_utc]


@lru_cache(maxsize=4096)
def _unwalked(expression: str) -> croniter:
    """A walker that is only ever copied, never walked: a copy set to a start walks as a new
    croniter would, without expanding the expression again (a new croniter per scan was
    still 8.6 % of the operator's CPU with 2,000 schedules; a copy costs a fifth of one)."""
    return croniter(expression, datetime(2000, 1, 1))


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


@lru_cache(maxsize=4096)
def parse(expression: str, time_zone: str) -> Cron:
    """Validates a schedule; raises ScheduleError naming the field at fault. Cached (a
    ``Cron`` is immutable; errors are not cached): every pass of every schedule parses its
    spec, and the benchmark's profile of 2,000 schedules found croniter's expansion of the
    same few expressions at about a quarter of the operator's CPU."""
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a tzdata folder ("Europe")
        raise ScheduleError("spec.timeZone",
                            f"unknown time zone {time_zone!r}; use an IANA name such as "
                            "'America/New_York'") from None
    text = expression.strip()
    if text.startswith("@"):
        if text not in MACROS:
            raise ScheduleError("spec.schedule", f"unknown macro {text!r}; use one of "
                                + ", ".join(MACROS))
    elif len(text.split()) != 5:
        raise ScheduleError("spec.schedule", f"{expression!r} must have five fields: "
                            "minute hour day-of-month month day-of-week")
    try:
        fields = croniter.expand(text)[0]
        croniter(text, datetime(2000, 1, 1)).get_next(datetime)
    except (CroniterError, ValueError, KeyError) as exc:
        raise ScheduleError("spec.schedule", f"{expression!r} is not a valid cron "
                            f"expression ({exc})") from None
    return Cron(text, zone, hour_is_wildcard=fields[1] == ["*"])
