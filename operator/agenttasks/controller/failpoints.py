"""Crash points for tests of crash safety, in the spirit of etcd's gofail.

`AGENTTASKS_FAILPOINTS=after-job-create` makes the operator SIGKILL itself right after it
creates a Job and before it writes the task's status, the worst moment to die.
"""

from __future__ import annotations

import os
import signal

_ACTIVE = frozenset(filter(None, os.environ.get("AGENTTASKS_FAILPOINTS", "").split(",")))


def hit(name: str) -> None:
    if name in _ACTIVE:
        os.kill(os.getpid(), signal.SIGKILL)
