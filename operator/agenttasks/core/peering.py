"""Which of several operator replicas acts: the one kopf's peering leaves unpaused.

The same rule as kopf's own: pause while another live peer has a higher priority, or the
same one. Reading it here lets our own work queues stop with kopf's watchers, so a paused
replica never acts from a timer.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any


def is_active(peers: dict[str, Any], identity: str, priority: int, now: datetime) -> bool:
    for peer_id, info in peers.items():
        if peer_id == identity or not isinstance(info, dict):
            continue
        lastseen = info.get("lastseen")
        if not lastseen:
            continue
        seen = datetime.fromisoformat(str(lastseen).replace("Z", "+00:00"))
        if seen + timedelta(seconds=int(info.get("lifetime", 60))) <= now:
            continue  # dead: its keep-alive expired
        if int(info.get("priority", 0)) >= priority:
            return False
    return True


def priority_for(name: str) -> int:
    """A stable priority per replica (its pod name), distinct with near certainty."""
    return 1 + int(hashlib.sha256(name.encode()).hexdigest()[:7], 16)
