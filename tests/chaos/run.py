"""`make chaos`: the chaos run at full size on a fresh local control plane (or the cluster in
AGENTTASKS_TEST_KUBECONFIG, without the faults that need our own control plane).

Sizes: CHAOS_TASKS (500), CHAOS_KILLS (20), CHAOS_MAX_RUNNING (15), CHAOS_THROTTLE_SECONDS
(45); CHAOS_SEED repeats a run. Exits 1 when a check fails.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

from tests.chaos.session import chaos_session
from tests.chaos.table import table

FOLDER = ".cluster-chaos"


def main() -> int:
    seed = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(1 << 30))
    with chaos_session(FOLDER) as (api, operator_kubeconfig, namespace, root):
        from tests.chaos.driver import ChaosConfig, ChaosRun

        config = ChaosConfig(
            tasks=int(os.environ.get("CHAOS_TASKS", "500")),
            kills=int(os.environ.get("CHAOS_KILLS", "20")),
            max_running=int(os.environ.get("CHAOS_MAX_RUNNING", "15")),
            seed=seed, throttle_seconds=float(os.environ.get("CHAOS_THROTTLE_SECONDS", "45")),
            local_root=root)
        result = ChaosRun(api, operator_kubeconfig, namespace, config).run()
    print(table(result), flush=True)
    return 0 if result.verdict.passed else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.exit(main())
