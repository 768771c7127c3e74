"""The benchmark's pure helpers: percentiles, the sweep's rules, bars and the summary."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from tests.perf.loadgen import LoadResult
from tests.perf.stats import (
    ERROR,
    MISS,
    PASS,
    SKIPPED,
    Bar,
    RatePoint,
    format_table,
    highest_sustained,
    highest_within,
    percentile,
    ratio,
    summary_rows,
    verdict,
    within_factor,
    without_nan,
)
from tests.perf.writes import breakdown_rows, writes_by_kind, writes_per_task


def point(rate: float, p99: float, errors: int = 0, achieved: float | None = None
          ) -> RatePoint:
    return RatePoint(rate=rate, p99_s=p99, errors=errors, sent=int(rate * 10),
                     achieved_rate=rate if achieved is None else achieved)


# --- percentile -------------------------------------------------------------------------------
def test_percentile_by_nearest_rank() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 50) == 3.0
    assert percentile(values, 100) == 5.0
    hundred = [float(i) for i in range(1, 101)]
    assert percentile(hundred, 99) == 99.0
    assert percentile(hundred, 50) == 51.0  # index round(49.5) = 50, half to even


def test_percentile_of_one_value_and_of_none() -> None:
    assert percentile([0.7], 99) == 0.7
    assert math.isnan(percentile([], 50))


def test_percentile_takes_any_iterable_and_refuses_nonsense() -> None:
    assert percentile(iter([3.0, 1.0, 2.0]), 50) == 2.0
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_ratio_is_nan_without_a_positive_baseline() -> None:
    assert ratio(3.0, 1.5) == 2.0
    assert math.isnan(ratio(1.0, 0.0))
    assert math.isnan(ratio(None, 1.0))
    assert math.isnan(ratio(1.0, None))
    assert math.isnan(ratio(math.nan, 1.0))


# --- the sweep --------------------------------------------------------------------------------
def test_highest_within_two_times_is_the_top_of_the_run_from_the_lowest_rate() -> None:
    hooks = [point(25, 0.02), point(50, 0.03), point(100, 0.05), point(200, 0.5),
             point(400, 0.06)]
    direct = [point(25, 0.015), point(50, 0.02), point(100, 0.03), point(200, 0.1),
              point(400, 0.2)]
    # 200/s is 5x; 400/s is within 2x again but lies past the first failure.
    assert highest_within(hooks, direct, 2.0) == 100


def test_highest_within_counts_exactly_two_times_as_within() -> None:
    assert highest_within([point(25, 0.2)], [point(25, 0.1)], 2.0) == 25


def test_highest_within_is_none_when_the_lowest_rate_fails() -> None:
    assert highest_within([point(25, 0.3), point(50, 0.01)],
                          [point(25, 0.1), point(50, 0.01)], 2.0) is None


def test_highest_within_does_not_depend_on_the_order_given() -> None:
    hooks = [point(100, 0.05), point(25, 0.02), point(50, 0.03)]
    direct = [point(50, 0.02), point(100, 0.03), point(25, 0.015)]
    assert highest_within(hooks, direct) == 100


def test_errors_or_a_late_sender_break_the_run_of_rates() -> None:
    direct = [point(25, 0.1), point(50, 0.1), point(100, 0.1)]
    # Fast 503s are not a latency within 2x.
    assert highest_within([point(25, 0.1), point(50, 0.01, errors=3), point(100, 0.1)],
                          direct) == 25
    # A sender that managed 80/s of 100/s measured itself, not the endpoint.
    assert highest_within([point(25, 0.1), point(50, 0.1), point(100, 0.1, achieved=80)],
                          direct) == 50
    late_direct = [point(25, 0.1), point(50, 0.1, achieved=40)]
    assert highest_within([point(25, 0.1), point(50, 0.1)], late_direct) == 25


def test_a_rate_measured_on_one_side_only_ends_the_run() -> None:
    assert highest_within([point(25, 0.1), point(50, 0.1), point(100, 0.1)],
                          [point(25, 0.1), point(100, 0.1)]) == 25


def test_within_factor_needs_a_positive_direct_p99() -> None:
    assert not within_factor(point(25, 0.0), point(25, 0.0), 2.0)
    assert not within_factor(point(25, math.nan), point(25, 0.1), 2.0)


def test_highest_sustained_stops_at_the_first_rate_past_the_bound() -> None:
    points = [point(25, 0.1), point(50, 0.4), point(100, 1.5), point(200, 0.2)]
    assert highest_sustained(points, 1.0) == 50
    assert highest_sustained(points, 2.0) == 200
    assert highest_sustained([point(25, 1.1)], 1.0) is None
    assert highest_sustained([], 1.0) is None
    assert highest_sustained([point(25, 0.1), point(50, 0.1, errors=1)], 1.0) == 25


def test_sender_kept_up_needs_ninety_percent_and_something_sent() -> None:
    assert point(100, 0.1, achieved=90).sender_kept_up
    assert not point(100, 0.1, achieved=89.9).sender_kept_up
    assert not RatePoint(rate=100, p99_s=0.1, errors=0, sent=0,
                         achieved_rate=100).sender_kept_up


def test_load_result_rate_and_point() -> None:
    result = LoadResult(rate=10.0, statuses=Counter({202: 9, 503: 1}),
                        latencies=[0.01 * i for i in range(1, 11)], send_lags=[0.0] * 10,
                        span_s=0.9)
    assert result.achieved_rate == pytest.approx(10.0)
    p = result.point(ok=202)
    assert (p.rate, p.errors, p.sent) == (10.0, 1, 10)
    assert p.p99_s == pytest.approx(0.1)
    assert result.figures("webhook", ok=202)["webhook_statuses"] == {"202": 9, "503": 1}
    assert LoadResult(rate=10.0).achieved_rate == 0.0


# --- bars -------------------------------------------------------------------------------------
def test_verdict_on_plain_and_exact_bars() -> None:
    bar = Bar("slot_to_job_p99_s", 0.5, "queue")
    assert verdict(0.5, bar) == PASS
    assert verdict(0.51, bar) == MISS
    assert verdict("> 300", bar) == MISS  # not reached
    assert verdict(None, bar) == MISS
    assert verdict(math.nan, bar) == MISS
    assert verdict(True, bar) == MISS  # a bool is no figure
    exact = Bar("priority_inversions", 0, "queue", exact=True)
    assert verdict(0, exact) == PASS
    assert verdict(-1, exact) == MISS


def test_a_relative_bar_judges_the_ratio_to_its_baseline() -> None:
    bar = Bar("agenttasks_wall_s", 1.10, "queue", baseline="bare_jobs_wall_s", relative=True)
    assert bar.measured({"agenttasks_wall_s": 55.0, "bare_jobs_wall_s": 50.0}) == \
        pytest.approx(1.1)
    assert math.isnan(bar.measured({"agenttasks_wall_s": 55.0}))
    assert math.isnan(bar.measured({"agenttasks_wall_s": "> 300", "bare_jobs_wall_s": 5.0}))


def test_summary_rows_show_the_baseline_and_the_verdict() -> None:
    bars = [Bar("agenttasks_wall_s", 1.10, "queue", baseline="bare_jobs_wall_s",
                relative=True),
            Bar("stored_ready_s", 15, "stored"),
            Bar("schedule_lag_p99_s", 1.0, "schedules"),
            Bar("webhook_p99_s", 2.0, "webhooks", baseline="webhook_direct_p99_s",
                relative=True, clean=("webhook_errors",))]
    results = {"agenttasks_wall_s": 60.0, "bare_jobs_wall_s": 50.0, "stored_ready_s": 3.2,
               "webhook_p99_s": 0.01, "webhook_direct_p99_s": 0.1, "webhook_errors": 12}
    rows = summary_rows(results, bars, failed=["stored"], skipped=["schedules"])
    assert rows[0] == ("agenttasks_wall_s", "60", "50 (bare_jobs_wall_s)",
                       "≤ 1.1x baseline: 1.2x", MISS)
    assert rows[1][4] == ERROR
    assert rows[2][4] == SKIPPED
    # Fast refusals make a low p99: with errors the bar is missed whatever the ratio.
    assert rows[3][4] == f"{MISS} (webhook_errors=12)"
    results["webhook_errors"] = 0
    assert summary_rows(results, bars[3:], [], [])[0][4] == PASS


def test_format_table_pads_columns() -> None:
    lines = format_table([("a", "1"), ("long", "22")], ("x", "yy"))
    assert lines == ["x     yy", "a     1", "long  22"]


def test_without_nan_makes_valid_json_values() -> None:
    assert without_nan({"a": math.nan, "b": [1.0, math.nan], "c": {"d": math.nan}}) == \
        {"a": None, "b": [1.0, None], "c": {"d": None}}


# --- writes -----------------------------------------------------------------------------------
def test_writes_per_task_and_by_kind() -> None:
    base = Counter({"jobs": 100, "pods": 100, "pods/status": 300})
    tasks = Counter({"jobs": 100, "pods": 100, "pods/status": 300, "agenttasks": 100,
                     "agenttasks/status": 200, "events": 2})
    assert writes_per_task(base, tasks, 100) == {
        "writes_per_task": 4.02, "writes_per_task_extra_agenttasks": 1.0,
        "writes_per_task_extra_agenttasks_status": 2.0}
    by_kind = writes_by_kind(base, tasks, 100)
    assert by_kind["agenttasks/status"] == {"agenttasks_run": 2.0, "bare_jobs_run": 0.0,
                                            "extra": 2.0}
    assert by_kind["pods/status"]["extra"] == 0.0
    rows = breakdown_rows(by_kind)
    assert rows[0] == ("agenttasks/status", "2", "0", "+2")
    assert [r[0] for r in rows][-1] == "pods/status"


# --- the orchestrator -------------------------------------------------------------------------
def test_a_crashed_phase_is_recorded_and_the_others_still_run(capsys: pytest.CaptureFixture[str]
                                                              ) -> None:
    from tests.perf.bench import Run

    run = Run(["queue", "webhooks"])

    def crash() -> dict[str, float]:
        raise RuntimeError("boom")

    assert not run.phase("queue", crash)
    assert run.phase("webhooks", lambda: {"webhook_p99_s": 0.1})
    assert not run.phase("stored", lambda: {"stored_ready_s": 1.0})  # not selected
    assert run.failed == {"queue": "RuntimeError: boom"}
    assert run.results == {"webhook_p99_s": 0.1}
    assert set(run.elapsed) == {"queue", "webhooks"}
    assert "phase queue CRASHED" in capsys.readouterr().out


def test_phases_are_picked_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.perf import bench

    monkeypatch.setenv("BENCH_PHASES", "stored, queue")
    assert bench.selected() == ["queue", "stored"]
    monkeypatch.setenv("BENCH_PHASES", "queue,nonsense")
    with pytest.raises(SystemExit):
        bench.selected()


# --- the schedule phase's grid ----------------------------------------------------------------
def test_due_at_follows_the_cron_of_each_schedule() -> None:
    from tests.perf.bench_schedules import _schedule, due_at

    assert _schedule(7, 5)["spec"]["schedule"] == "2-59/5 * * * *"
    assert _schedule(7, 1)["spec"]["schedule"] == "* * * * *"
    assert _schedule(7, 5, minute=42)["spec"]["schedule"] == "42 * * * *"
    minute_12 = 1_800_000_000 // 3600 * 3600 + 12 * 60  # 12 minutes past an hour
    assert due_at(12, 5, minute_12) == [2, 7]
    assert due_at(3, 1, minute_12) == [0, 1, 2]
    # 7 does not divide 60: minute 12 of the hour is 12 % 7 = 5, whatever the epoch minute.
    assert due_at(14, 7, minute_12) == [5, 12]
