"""Pure helpers of the benchmark: percentiles, the bars and their verdicts, the rate sweep's
rules and the summary table. No I/O here, so that tests/unit can check them."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PASS, MISS, ERROR, SKIPPED = "PASS", "MISS", "ERROR", "skipped"


def percentile(values: Iterable[float], p: float) -> float:
    """The ``p``-th percentile by nearest rank over the sorted values (index
    round(p/100 · (n-1))): p0 is the least, p100 the greatest, p50 of 1..5 is 3. NaN when
    there are none, so that an empty sample never passes a bar."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    if not 0 <= p <= 100:
        raise ValueError(f"percentile {p} is outside 0..100")
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def ratio(value: float | None, baseline: float | None) -> float:
    """value / baseline, NaN when either is missing or the baseline is not positive."""
    if value is None or baseline is None or not baseline > 0 or math.isnan(value):
        return math.nan
    return value / baseline


def rounded(value: float | None, digits: int = 3) -> float | None:
    """For the JSON: NaN and None become None (null), the rest rounded."""
    if value is None or math.isnan(value):
        return None
    return round(value, digits)


# --- the rate sweep ---------------------------------------------------------------------------
@dataclass(frozen=True)
class RatePoint:
    """One short open-loop run at ``rate`` requests a second."""

    rate: float
    p99_s: float
    errors: int
    sent: int
    achieved_rate: float  # requests over the span in which the sender sent them

    @property
    def sender_kept_up(self) -> bool:
        """The sender sent at least 90 % of the asked rate: otherwise the point measured
        the load generator, not the server, and counts as not sustained."""
        return self.sent > 0 and self.achieved_rate >= 0.9 * self.rate

    def sustained(self, bound_s: float) -> bool:
        """No failed request, the sender on schedule, and p99 within ``bound_s``."""
        return self.errors == 0 and self.sender_kept_up and self.p99_s <= bound_s


def highest_sustained(points: Sequence[RatePoint], bound_s: float) -> float | None:
    """The highest rate up to which every swept rate (in increasing order) was sustained
    (RatePoint.sustained): a rate above the first one that was not does not count, so that
    a lucky point past a failure is not reported. None when not even the lowest was."""
    best: float | None = None
    for point in sorted(points, key=lambda p: p.rate):
        if not point.sustained(bound_s):
            break
        best = point.rate
    return best


def within_factor(webhook: RatePoint, direct: RatePoint, factor: float) -> bool:
    """The webhook's p99 is at most ``factor`` times the direct writes' p99 at the same rate,
    with no failed delivery and both senders on schedule."""
    return (webhook.errors == 0 and webhook.sender_kept_up and direct.sender_kept_up
            and not math.isnan(webhook.p99_s) and direct.p99_s > 0
            and webhook.p99_s <= factor * direct.p99_s)


def highest_within(webhook: Sequence[RatePoint], direct: Sequence[RatePoint],
                   factor: float = 2.0) -> float | None:
    """The highest swept rate up to which (every lower swept rate too) the webhook's p99
    stayed within ``factor`` x the direct writes' p99 at that rate (within_factor). A rate
    measured on one side only ends the run of rates. None when not even the lowest held."""
    by_rate = {p.rate: p for p in direct}
    best: float | None = None
    for point in sorted(webhook, key=lambda p: p.rate):
        other = by_rate.get(point.rate)
        if other is None or not within_factor(point, other, factor):
            break
        best = point.rate
    return best


# --- bars and the summary table ---------------------------------------------------------------
@dataclass(frozen=True)
class Bar:
    """A figure of the results (of ``phase``), the baseline measured beside it in the same
    run, and the issue's first bar: the figure ≤ ``limit`` (== with ``exact``), or with
    ``relative`` the figure / its baseline ≤ ``limit``. ``clean`` names counts (failed
    requests, fires not seen) that must be 0 for a PASS: a fast refusal is no latency."""

    figure: str
    limit: float
    phase: str
    baseline: str | None = None
    relative: bool = False
    exact: bool = False
    clean: tuple[str, ...] = ()

    def unclean(self, results: Mapping[str, Any]) -> list[str]:
        """The ``clean`` counts that are not 0 (or missing), as 'name=value'."""
        return [f"{key}={shown(results.get(key))}" for key in self.clean
                if results.get(key) != 0]

    def measured(self, results: Mapping[str, Any]) -> Any:
        """What the bar judges: the figure, or its ratio to the baseline."""
        value = results.get(self.figure)
        if not self.relative:
            return value
        base = results.get(self.baseline or "")
        if not _number(value) or not _number(base):
            return math.nan
        return ratio(value, base)

    def text(self) -> str:
        if self.relative:
            return f"≤ {self.limit:g}x baseline"
        return f"{'=' if self.exact else '≤'} {self.limit:g}"


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) \
        and not math.isnan(value)


def verdict(value: Any, bar: Bar) -> str:
    """PASS or MISS of what ``bar`` judges; anything that is not a number (not reached,
    missing, NaN) is a MISS."""
    if not _number(value):
        return MISS
    met = value == bar.limit if bar.exact else value <= bar.limit
    return PASS if met else MISS


def shown(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:g}"
    return str(value)


def summary_rows(results: Mapping[str, Any], bars: Sequence[Bar],
                 failed: Iterable[str], skipped: Iterable[str]
                 ) -> list[tuple[str, str, str, str, str]]:
    """(figure, value, baseline, bar, verdict) for each bar: ERROR when its phase crashed,
    'skipped' when it was not run, else PASS/MISS. A relative bar shows its ratio."""
    crashed, left_out = set(failed), set(skipped)
    rows = []
    for bar in bars:
        value = shown(results.get(bar.figure))
        base = "" if bar.baseline is None else \
            f"{shown(results.get(bar.baseline))} ({bar.baseline})"
        measured = bar.measured(results)
        limit = bar.text()
        if bar.relative:
            limit += f": {shown(rounded(measured, 2))}x" if _number(measured) else ""
        if bar.phase in crashed:
            mark = ERROR
        elif bar.phase in left_out:
            mark = SKIPPED
        elif bar.unclean(results):
            mark = f"{MISS} ({', '.join(bar.unclean(results))})"
        else:
            mark = verdict(measured, bar)
        rows.append((bar.figure, value, base, limit, mark))
    return rows


def format_table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> list[str]:
    """Left-aligned text columns, as wide as their widest cell."""
    table = [list(header), *[list(r) for r in rows]]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in table]


def without_nan(value: Any) -> Any:
    """``value`` with every NaN float (at any depth) as None, so that the JSON is valid."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: without_nan(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [without_nan(v) for v in value]
    return value
