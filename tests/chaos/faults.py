"""The faults: SIGKILL of the operator, and the control-plane faults that need our own local
control plane (restart of the API server, watch expiry by etcd compaction, throttling)."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from agenttasks.devcluster import cluster as local
from tests.integration.harness import Api, Operator

T = TypeVar("T")
# APF (on by default) exempts nothing we could tune as simply, and replaces the max-in-flight
# filter, so it is turned off for the throttled API server. The operator runs as the chart's
# ServiceAccount; the control plane's own components are system:masters, which max-in-flight
# exempts, so only the operator is throttled.
THROTTLE_FLAGS = ("--enable-priority-and-fairness=false", "--max-requests-inflight=2",
                  "--max-mutating-requests-inflight=1")
_REJECTED = re.compile(r'^apiserver_request_total\{[^}]*code="429"[^}]*\}\s+([0-9.e+]+)$', re.M)


def retrying(call: Callable[[], T], seconds: float = 90) -> T:
    """``call``, retried while the API server restarts or throttles (the test's own calls
    must not fail where the operator is expected to cope)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return call()
        except ApiException as exc:
            if exc.status not in (429, 500, 503, 504) or time.monotonic() > deadline:
                raise
        except (HTTPError, OSError):
            if time.monotonic() > deadline:
                raise
        time.sleep(0.3)


@dataclass
class OperatorFaults:
    """SIGKILL and restart; SIGSTOP and SIGCONT (frozen with its stale watches). Notes when
    the operator exits by itself, which no fault here should cause."""

    operator: Operator
    kills: int = 0
    crashes: int = 0

    def kill_and_restart(self, pause: float) -> None:
        self.operator.kill()
        self.kills += 1
        time.sleep(pause)
        self.operator.start()

    def freeze(self) -> None:
        assert self.operator.proc is not None
        os.killpg(self.operator.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.operator.proc is not None
        os.killpg(self.operator.proc.pid, signal.SIGCONT)

    def revive_if_exited(self) -> bool:
        """Restarts an operator that exited on its own (a crash); True if it had."""
        if not self.operator.exited():
            return False
        self.crashes += 1
        self.operator.start()
        return True


@dataclass
class ControlPlaneFaults:
    """Faults on the local control plane in ``root``."""

    root: Path
    api: Api

    def restart_apiserver(self, throttled: bool = False) -> float:
        return local.restart_apiserver(self.root, THROTTLE_FLAGS if throttled else ())

    def compact(self) -> int:
        return local.compact_etcd(self.root)

    def rejected_429(self) -> int:
        """Requests the API server answered 429 since it started (from its /metrics)."""
        text = retrying(lambda: local.apiserver_metrics(self.root))
        return int(sum(float(v) for v in _REJECTED.findall(text)))
