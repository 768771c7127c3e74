"""The benchmark's stored phase: start-up of an operator over many finished tasks.

Stores finished tasks as a long-running cluster has them (tests/perf/stored_tasks.py: most
Completed with history and a result, some Failed after retries, some Cancelled), written
while no operator runs, with the status the operator would have written. For each size in
BENCH_STORED (a comma-separated list, growing: "10000,50000"), a fresh operator starts over
them, and the phase measures time to ready, a new task's first Job, peak RSS and idle CPU.

BENCH_BASELINE_SRC names another checkout's ``operator`` folder (say, main's, unpacked with
``git archive``): its operator is measured right before this one at each size, over the same
stored tasks, so both figures come from the same machine at the same moment.
BENCH_PYSPY=1 records each start-up (healthy to ready) with py-spy, as raw stacks in
test-artifacts/pyspy-<label>-<size>.txt.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from agenttasks.kube.client import Kube
from tests.integration.harness import ARTIFACTS, Api, Operator, pod_template
from tests.perf.stored_tasks import stored_task

SIZES = [int(s) for s in os.environ.get("BENCH_STORED", "10000").split(",") if s.strip()]
BASELINE_SRC = os.environ.get("BENCH_BASELINE_SRC", "")
PYSPY = os.environ.get("BENCH_PYSPY", "") == "1"
WAIT = float(os.environ.get("BENCH_STORED_WAIT", "300"))
WRITERS = 32  # writes in flight while storing
_SERVER_SET = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields")


async def _store(kubeconfig: str, namespace: str, first: int, count: int) -> None:
    kube = Kube(kubeconfig, connections=WRITERS)
    gate = asyncio.Semaphore(WRITERS)

    async def one(i: int) -> None:
        body = stored_task(i, namespace)
        status = body.pop("status")
        for field in _SERVER_SET:
            body["metadata"].pop(field, None)
        async with gate:
            await kube.create_object("agenttasks", body)
            await kube.patch_status("agenttasks", namespace, body["metadata"]["name"], status)

    try:
        await asyncio.gather(*(one(i) for i in range(first, first + count)))
    finally:
        await kube.close()


def store(api: Api, namespace: str, first: int, count: int) -> float:
    """Stores tasks stored-<first> … as finished; the seconds it took."""
    started = time.monotonic()
    asyncio.run(_store(api.kubeconfig, namespace, first, count))
    return time.monotonic() - started


def proc_stats(pid: int) -> tuple[float, float]:
    """(peak RSS in MiB, CPU seconds) of a live process."""
    status = Path(f"/proc/{pid}/status").read_text()
    hwm = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return hwm / 1024, (int(fields[11]) + int(fields[12])) / ticks


def _wait(check: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def start_up(api: Api, namespace: str, label: str, size: int,
             env: dict[str, str] | None = None) -> dict[str, Any]:
    """A fresh operator over what is stored: ready, a new task's first Job, RSS, idle CPU."""
    started = time.monotonic()
    fresh = Operator(api.kubeconfig, [namespace], f"stored-{label}-{size}", ["--workers", "16"],
                     env=env).start()
    assert fresh.proc is not None
    spy = None
    if PYSPY:
        spy = subprocess.Popen(
            [str(Path(sys.executable).parent / "py-spy"), "record", "--nonblocking", "-f", "raw",
             "-r", "100",
             "-o", str(ARTIFACTS / f"pyspy-{label}-{size}.txt"), "--pid", str(fresh.proc.pid)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ready = _wait(fresh.ready, WAIT)
    startup = time.monotonic() - started if ready else None
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)
    probe = f"probe-{label}-{size}"
    sent = time.monotonic()
    api.create_task(namespace, {"metadata": {"name": probe}, "spec": {"template": pod_template()}})
    first_job = time.monotonic() - sent if _wait(lambda: bool(api.jobs(namespace, probe)),
                                                 WAIT) else None
    time.sleep(10)  # the start-up pass over every stored task is over
    _, cpu0 = proc_stats(fresh.proc.pid)
    time.sleep(30)
    rss, cpu1 = proc_stats(fresh.proc.pid)
    fresh.stop()
    return {"label": label, "stored": size, "rss_mib": rss, "ready_s": startup,
            "first_job_s": first_job, "idle_cpu_pct": (cpu1 - cpu0) / 30 * 100}


def stored_figures(api: Api, namespace: str, already: int = 0) -> list[dict[str, Any]]:
    """Grows the stored tasks through SIZES (``already`` are there: the run's own tasks),
    and starts the baseline's operator, if any, then this one, at each size."""
    rows: list[dict[str, Any]] = []
    have, written = already, 0
    for size in SIZES:
        more = max(0, size - have)
        print(f"stored: {more} more finished tasks, {have + more} in all …", flush=True)
        took = store(api, namespace, written, more)
        print(f"  stored in {took:.0f}s", flush=True)
        have, written = have + more, written + more
        variants: list[tuple[str, dict[str, str] | None]] = []
        if BASELINE_SRC:
            variants.append(("baseline", {"PYTHONPATH": BASELINE_SRC}))
        variants.append(("this", None))
        for label, env in variants:
            row = start_up(api, namespace, label, have, env)
            have += 1  # its probe task is stored too
            print(f"  {label}: ready {row['ready_s']}, peak RSS {row['rss_mib']:.0f} MiB, "
                  f"first Job {row['first_job_s']}, idle CPU {row['idle_cpu_pct']:.2f}%",
                  flush=True)
            rows.append(row)
    return rows


def per_task_bytes(rows: list[dict[str, Any]], label: str) -> float | None:
    """The slope of peak RSS between the smallest and largest size: bytes per stored task."""
    mine = sorted((r for r in rows if r["label"] == label), key=lambda r: r["stored"])
    if len(mine) < 2 or mine[-1]["stored"] == mine[0]["stored"]:
        return None
    rise = (mine[-1]["rss_mib"] - mine[0]["rss_mib"]) * 2**20
    return rise / (mine[-1]["stored"] - mine[0]["stored"])


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures by size (``_10k``, ``_50k``), the baseline's prefixed ``baseline_``."""
    figures: dict[str, Any] = {}
    for row in rows:
        size = f"{row['stored'] // 1000}k" if row["stored"] >= 1000 else str(row["stored"])
        prefix = "baseline_" if row["label"] == "baseline" else ""
        figures[f"{prefix}peak_rss_mib_{size}"] = round(row["rss_mib"], 1)
        figures[f"{prefix}startup_s_{size}"] = (round(row["ready_s"], 1) if row["ready_s"]
                                                is not None else f"> {WAIT:.0f}")
    for label, prefix in (("baseline", "baseline_"), ("this", "")):
        slope = per_task_bytes(rows, label)
        if slope is not None:
            figures[f"{prefix}rss_bytes_per_stored_task"] = round(slope)
    last = [r for r in rows if r["label"] == "this"][-1:]
    if last:
        figures["stored_tasks"] = last[0]["stored"]
        figures["idle_cpu_pct"] = round(last[0]["idle_cpu_pct"], 2)
        figures["new_task_job_after_start_s"] = round(float(last[0]["first_job_s"] or 0), 2)
    return figures


TARGETS = {"peak_rss_mib_10k": 250, "startup_s_10k": 30, "peak_rss_mib_50k": 300,
           "startup_s_50k": 15, "peak_rss_mib_100k": 500, "idle_cpu_pct": 2}
