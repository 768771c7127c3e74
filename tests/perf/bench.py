"""`make bench`: every benchmark phase in one invocation on one local cluster, each figure
printed beside its baseline from the same run, with the issue's first bar and PASS/MISS.

Phases (BENCH_PHASES, comma-separated, picks some; a size of 0 skips one):
  queue      BENCH_TASKS AgentTasks against as many bare Jobs, BENCH_PARALLELISM at a time
  schedules  BENCH_SCHEDULES spread fires and a BENCH_SCHEDULE_BURST burst, each beside the
             same tasks created directly (tests/perf/bench_schedules.py)
  webhooks   BENCH_WEBHOOK_RATE deliveries/s beside direct writes of the same tasks, then
             the BENCH_SWEEP_RATES sweep (tests/perf/load_webhooks.py)
  eta        the visible queue's estimated starts against the actual ones, for a queue of
             BENCH_ETA_TASKS (tests/perf/bench_eta.py)
  stored     an operator restarted over BENCH_STORED stored tasks (last: they stay)

A phase that crashes is reported as ERROR, the others still run, and the exit status is 1.
A figure that misses its bar is reported as MISS and does not change the exit status.
Results go to bench-results.json (and bench-results.png when matplotlib is installed).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agenttasks.api.crd import all_crds
from agenttasks.kube.crds import apply_crds
from tests.integration.harness import REPO, Api, provide_cluster
from tests.perf import (
    bench_eta,
    bench_queue,
    bench_schedules,
    cpu_share,
    load_webhooks,
    profile_summary,
)
from tests.perf.stats import Bar, format_table, shown, summary_rows, without_nan
from tests.perf.writes import breakdown_rows

PHASES = ("queue", "schedules", "webhooks", "eta", "stored")

# The first bar for each figure, and the baseline printed beside it.
BARS = (
    Bar("agenttasks_wall_s", 1.10, "queue", baseline="bare_jobs_wall_s", relative=True),
    Bar("slot_to_job_p50_s", 0.05, "queue", baseline="bare_jobs_feeder_slot_to_job_p50_s"),
    Bar("slot_to_job_p99_s", 0.5, "queue", baseline="bare_jobs_feeder_slot_to_job_p99_s"),
    Bar("writes_per_task", 5, "queue", baseline="bare_jobs_writes_per_job_all_writers"),
    Bar("priority_inversions", 0, "queue", baseline="inversions_vs_submission_order",
        exact=True),
    Bar("webhook_p99_s", 2.0, "webhooks", baseline="webhook_direct_p99_s", relative=True,
        clean=("webhook_errors", "webhook_direct_errors")),
    Bar("schedule_lag_p99_s", 1.0, "schedules", baseline="schedule_direct_lag_p99_s",
        clean=("schedule_missed", "schedule_direct_missed")),
    Bar("schedule_burst_lag_max_s", 2.0, "schedules",
        baseline="schedule_burst_direct_lag_max_s", relative=True,
        clean=("schedule_burst_missed", "schedule_burst_direct_missed")),
    # The issue sets no bar for the estimate: these are ours. The baseline is the estimate
    # from the position alone (position x mean pod time / limit).
    Bar("eta_error_p50", 0.25, "eta", baseline="eta_naive_error_p50"),
    Bar("eta_error_p90", 0.5, "eta", baseline="eta_naive_error_p90"),
    Bar("stored_peak_rss_mib", 300, "stored"),
    Bar("stored_ready_s", 15, "stored"),
)


def selected() -> list[str]:
    """The phases asked for (BENCH_PHASES, default all) less those whose size is 0."""
    asked = [p.strip() for p in os.environ.get("BENCH_PHASES", ",".join(PHASES)).split(",")
             if p.strip()]
    unknown = sorted(set(asked) - set(PHASES))
    if unknown:
        raise SystemExit(f"BENCH_PHASES: unknown phase(s) {', '.join(unknown)}; "
                         f"known: {', '.join(PHASES)}")
    sizes = {"queue": bench_queue.N, "schedules": bench_schedules.SCHEDULES,
             "webhooks": load_webhooks.RATE or len(load_webhooks.SWEEP_RATES),
             "eta": bench_eta.N, "stored": bench_queue.STORED}
    return [p for p in PHASES if p in asked and sizes[p]]


class Run:
    """Runs phases, keeping their figures, their elapsed time and whether they crashed."""

    def __init__(self, phases: list[str]) -> None:
        self.phases = phases
        self.results: dict[str, Any] = {}
        self.elapsed: dict[str, float] = {}
        self.failed: dict[str, str] = {}

    def phase(self, name: str, body: Callable[[], dict[str, Any]]) -> bool:
        if name not in self.phases:
            return False
        print(f"\n=== phase {name} ===", flush=True)
        started = time.monotonic()
        try:
            self.results.update(body())
            return True
        except Exception as exc:  # reported, and the exit status says so
            traceback.print_exc()
            self.failed[name] = f"{type(exc).__name__}: {exc}"
            print(f"phase {name} CRASHED: {self.failed[name]}", flush=True)
            return False
        finally:
            self.elapsed[name] = time.monotonic() - started
            print(f"=== phase {name}: {self.elapsed[name]:.0f}s ===", flush=True)


def _profiling() -> Path | None:
    """BENCH_PROFILE=1: py-spy samples every operator the phases start (harness.Operator),
    into bench-profiles/, summarised at the end."""
    if os.environ.get("BENCH_PROFILE", "") in ("", "0"):
        return None
    folder = Path("bench-profiles").resolve()
    shutil.rmtree(folder, ignore_errors=True)
    os.environ["AGENTTASKS_PROFILE_DIR"] = str(folder)
    return folder


def main() -> int:
    profiles = _profiling()
    phases = selected()
    run = Run(phases)
    started = time.monotonic()
    queue_data: dict[str, Any] = {}
    print(f"bench phases: {', '.join(phases) or 'none'}", flush=True)
    with provide_cluster(".cluster-bench") as kubeconfig:
        run.elapsed["cluster up"] = time.monotonic() - started
        api = BenchApi(kubeconfig)
        apply_crds(api.kubeconfig, all_crds())

        def queue() -> dict[str, Any]:
            figures, data = bench_queue.queue_figures(api)
            queue_data.update(data)
            return figures

        run.phase("queue", queue)
        run.phase("schedules", lambda: bench_schedules.schedule_figures(api))
        run.phase("webhooks", lambda: load_webhooks.webhook_figures(api))
        run.phase("eta", lambda: bench_eta.eta_figures(api))
        # Last, since its tasks stay; over the queue phase's completed tasks when there are.
        run.phase("stored", lambda: bench_queue.measure_stored(
            api, queue_data.get("namespace"), bench_queue.N if queue_data else 0))
        if os.environ.get("AGENTTASKS_TEST_KUBECONFIG"):  # not ours to throw away
            for namespace in api.namespaces:
                api.delete_namespace(namespace)
        down = time.monotonic()
    run.elapsed["cluster down"] = time.monotonic() - down
    total = time.monotonic() - started
    report(run, total, queue_data)
    if profiles is not None:
        for path in sorted(profiles.glob("*.txt")):
            found = profile_summary.summary(profile_summary.load(path))
            print(f"\n== profile {path.name}\n{found}")
    return 1 if run.failed else 0


class BenchApi(Api):
    """The harness's Api, remembering the namespaces it created."""

    def __init__(self, kubeconfig: str) -> None:
        super().__init__(kubeconfig)
        self.namespaces: list[str] = []

    def create_namespace(self, prefix: str) -> str:
        name = super().create_namespace(prefix)
        self.namespaces.append(name)
        return name


def report(run: Run, total: float, queue_data: dict[str, Any]) -> None:
    results = run.results
    skipped = [p for p in PHASES if p not in run.phases]
    if "writes_by_kind" in results:
        print("\nAPI writes per task by kind (apiserver_request_total), queue phase:")
        for line in format_table(breakdown_rows(results["writes_by_kind"]),
                                 ("resource", "AgentTasks run", "bare-Job run", "extra")):
            print("  " + line)
        print(f"  writes_per_task = 1 (the user's create) + the extras = "
              f"{results.get('writes_per_task')}")
    if "cpu_s_by_process" in results:
        cpu = results["cpu_s_by_process"]
        print("\nCPU seconds by process, queue phase (each run from its first create to its "
              "last completion):")
        runs = {"AgentTasks run": cpu["agenttasks_run"],
                "direct bookkeeping": cpu["direct_bookkeeping_run"],
                "bare-Job run": cpu["bare_jobs_run"]}
        for line in format_table(cpu_share.rows(runs), ("process", *runs, "extra")):
            print("  " + line)
        floor = results.get("direct_bookkeeping_wall_s")
        print(f"  wall: AgentTasks {shown(results.get('agenttasks_wall_s'))}s, bare Jobs with "
              f"each task's status written directly {shown(floor)}s "
              f"({shown(results.get('direct_bookkeeping_vs_jobs_ratio'))}x bare Jobs), bare Jobs "
              f"{shown(results.get('bare_jobs_wall_s'))}s")
        print(f"  a Job's life (seen created to seen finished), p50: "
              f"{shown(results.get('job_run_p50_s'))}s against "
              f"{shown(results.get('bare_jobs_job_run_p50_s'))}s for bare Jobs; slot to Job "
              f"p50 = freed to grant {shown(results.get('slot_freed_to_grant_p50_s'))}s + "
              f"grant to Job seen {shown(results.get('slot_grant_to_job_p50_s'))}s")
    if results.get("webhook_sweep"):
        print(f"\nwebhook sweep ({shown(results['webhook_sweep_seconds'])}s a rate; "
              f"sustained: no error, sender on schedule, p99 ≤ "
              f"{shown(results['webhook_sweep_p99_bound_s'])}s):")
        rows = [(f"{r['rate_per_s']:g}", shown(r["webhook_p50_s"]), shown(r["webhook_p99_s"]),
                 str(r["webhook_errors"]), shown(r["direct_p50_s"]), shown(r["direct_p99_s"]),
                 str(r["direct_errors"]), shown(r["p99_ratio"]),
                 "yes" if r["within_2x"] else "no") for r in results["webhook_sweep"]]
        for line in format_table(rows, ("rate/s", "hook p50", "hook p99", "hook err",
                                        "direct p50", "direct p99", "direct err", "p99 ratio",
                                        "≤ 2x")):
            print("  " + line)
        for key in ("webhook_sweep_highest_within_2x_per_s",
                    "webhook_sweep_highest_sustained_per_s",
                    "direct_sweep_highest_sustained_per_s"):
            print(f"  {key}: {shown(results[key])}")
    print("\nfigures beside their baselines (same run), against the issue's first bar:")
    rows = summary_rows(results, BARS, run.failed, skipped)
    for line in format_table(rows, ("figure", "value", "baseline (same run)", "bar",
                                    "verdict")):
        print("  " + line)
    print("\nelapsed:")
    for name, seconds in run.elapsed.items():
        print(f"  {name:14} {seconds:7.0f}s")
    print(f"  {'total':14} {total:7.0f}s")
    for name, error in run.failed.items():
        print(f"phase {name} CRASHED: {error}")
    verdicts = {bar.figure: row[4] for bar, row in zip(BARS, rows, strict=True)}
    out = REPO / "bench-results.json"
    out.write_text(json.dumps(without_nan({
        **results, "verdicts": verdicts,
        "bars": {b.figure: b.text() for b in BARS},
        "phase_elapsed_s": {k: round(v, 1) for k, v in run.elapsed.items()},
        "total_elapsed_s": round(total, 1),
        "failed_phases": run.failed, "skipped_phases": skipped}), indent=2) + "\n")
    drawn = bool(queue_data) and bench_queue.plot(queue_data["base"], queue_data["tasks"],
                                                  REPO / "bench-results.png")
    print(f"\nwrote {out}" + (" and bench-results.png" if drawn else ""))


if __name__ == "__main__":
    sys.exit(main())
