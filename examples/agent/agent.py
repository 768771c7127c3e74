"""A small example agent: works in steps, reports its progress to the operator with
agenttasks.progress, prints the payload a trigger delivered, stops cleanly on SIGTERM (pause,
cancel, timeout) and leaves its result as the container's termination message.

Settings (environment): AGENT_STEPS (3), AGENT_STEP_SECONDS (1), AGENT_FOREVER=1 (never
finishes: for timeouts and pauses).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from agenttasks.progress import report

RESULT = Path("/dev/termination-log")


def stop(signum: int, _frame: FrameType | None) -> None:
    print(f"agent: received {signal.Signals(signum).name}, stopping", flush=True)
    sys.exit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGTERM, stop)
    steps = int(os.environ.get("AGENT_STEPS", "3"))
    pause = float(os.environ.get("AGENT_STEP_SECONDS", "1"))
    payload = os.environ.get("AGENTTASK_PAYLOAD")
    if payload:
        print(f"agent: payload {Path(payload).read_text()}", flush=True)
    print(f"agent: starting {steps} steps", flush=True)
    step = 0
    while step < steps or os.environ.get("AGENT_FOREVER") == "1":
        step += 1
        took = report(min(step, steps), steps, f"step {step}")
        print(f"agent: step {step} done (progress reported: {took})", flush=True)
        time.sleep(pause)
    with RESULT.open("w") as out:
        json.dump({"steps": steps, "summary": f"finished {steps} steps"}, out)
    print("agent: done", flush=True)


if __name__ == "__main__":
    main()
