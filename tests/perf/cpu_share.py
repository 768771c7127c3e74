"""CPU seconds spent by each process of the benchmark's local cluster, and by the benchmark
itself, between two moments: on 2 shared cores the wall time of a run is decided as much by
what the API server, etcd, the Job controller and kwok spend as by the operator, so a run's
figure is printed beside where its CPU went."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from agenttasks.devcluster.cluster import LocalCluster
from tests.integration.harness import REPO, Api

BENCH = "benchmark (this process)"


def _ticks(pid: int) -> float:
    """utime + stime of ``pid``, in seconds (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cluster(api: Api) -> LocalCluster | None:
    """The benchmark's own local cluster, when ``api`` is it; None on any other (its
    processes and its etcd are not ours to read)."""
    cluster = LocalCluster((REPO / ".cluster-bench").resolve())
    if str(cluster.kubeconfig) != str(Path(api.kubeconfig).resolve()):
        return None
    return cluster


def cluster_pids(api: Api) -> dict[str, int]:
    """The own local cluster's components and their pids; {} on any other cluster."""
    cluster = own_cluster(api)
    if cluster is None:
        return {}
    return {name: pid for name, pid in cluster.running().items() if pid is not None}


def snapshot(pids: Mapping[str, int]) -> dict[str, float]:
    """CPU seconds so far of each named pid, and of this process (all its threads)."""
    times = os.times()
    return {**{name: _ticks(pid) for name, pid in pids.items()},
            BENCH: times.user + times.system}


def spent(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """CPU seconds of each process between two snapshots, rounded to 0.1 s."""
    return {name: round(after[name] - before.get(name, 0.0), 1) for name in after}


def rows(runs: Mapping[str, Mapping[str, float]]) -> list[tuple[str, ...]]:
    """(process, each run's seconds, the first run's extra over the last), largest extra
    first, with a total line."""
    columns = list(runs.values())
    first, last = columns[0], columns[-1]
    names = sorted(set().union(*runs.values()),
                   key=lambda n: (-(first.get(n, 0.0) - last.get(n, 0.0)), n))
    table = [(n, *(f"{run.get(n, 0.0):.1f}" for run in runs.values()),
              f"{first.get(n, 0.0) - last.get(n, 0.0):+.1f}") for n in names]
    totals = [sum(run.values()) for run in runs.values()]
    return [*table, ("total", *(f"{t:.1f}" for t in totals), f"{totals[0] - totals[-1]:+.1f}")]
