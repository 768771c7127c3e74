"""The short chaos run inside `make test`: about 60 tasks, a few SIGKILLs of the operator, a
restart of the API server, a watch expiry (etcd compaction) and throttling (429), on a local
control plane of its own in .cluster-chaos-test, since it restarts the API server. The full
run is `make chaos` (tests/chaos/run.py)."""

from __future__ import annotations

import os
import random

import pytest

from tests.chaos.driver import ChaosConfig, ChaosRun
from tests.chaos.session import chaos_session
from tests.chaos.table import table

FOLDER = ".cluster-chaos-test"


@pytest.mark.skipif(bool(os.environ.get("AGENTTASKS_TEST_KUBECONFIG")),
                    reason="restarts, compacts and throttles the API server: needs the local "
                    "control plane, not the cluster in AGENTTASKS_TEST_KUBECONFIG")
@pytest.mark.timeout(400)
def test_short_chaos_run(capsys: pytest.CaptureFixture[str]) -> None:
    seed = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(1 << 30))
    with chaos_session(FOLDER) as (api, operator_kubeconfig, namespace, root):
        assert root is not None, "the chaos test needs its own local control plane"
        config = ChaosConfig(tasks=60, kills=4, max_running=8, seed=seed, throttle_seconds=15,
                             settle_seconds=180, local_root=root)
        with capsys.disabled():
            result = ChaosRun(api, operator_kubeconfig, namespace, config, say=print).run()
            print("\n" + table(result))
    verdict = result.verdict
    injected = {f.fault: f.injected for f in result.faults}
    assert injected == {"operator SIGKILL + restart": 4, "API server restart": 1,
                        "watch expiry": 1, "throttling": 1}
    assert result.watch_gone >= 1, "compaction did not expire the test's own watch"
    assert result.rejected_429 > 0, "the throttled API server answered no request with 429"
    assert verdict.terminal == verdict.tasks
    assert verdict.lost == [], verdict.problems
    assert verdict.duplicate_jobs == 0, verdict.problems
    assert verdict.overruns == 0 and verdict.peak_running <= config.max_running
    assert verdict.problems == []
