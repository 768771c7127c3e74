"""Offline probe: what N stored (finished) tasks cost the operator, without a cluster.

Parses the paged list an API server would send (tests/perf/stored_tasks.py) through the
informer's own path (Informer._deliver into Watches.on_task, so the indexes and the task
view hold what they hold in the operator), then runs the start-up pass over every task.
Prints the time of each step and, under tracemalloc, the bytes still held per task and the
lines that allocated them.

    .venv/bin/python -m tests.perf.stored_memory 20000        # time and memory
    .venv/bin/python -m tests.perf.stored_memory 20000 --time # time only (for py-spy)
    .venv/bin/python -m tests.perf.stored_memory 20000 --ttl  # each to be deleted in 30d
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
import tracemalloc
from datetime import timedelta
from typing import Any, cast

from agenttasks.controller.engine import Engine
from agenttasks.controller.settings import OperatorSettings
from agenttasks.controller.watches import Watches
from agenttasks.kube.client import Kube
from agenttasks.kube.connection import Connection
from agenttasks.kube.secrets import SecretCache
from tests.perf.stored_tasks import list_pages, stored_task

NS = "team-a"
JSON = dict[str, Any]


class _Kube:
    """Answers the reads a start-up pass makes; every task is stored and has no Job."""

    def __init__(self) -> None:
        self.connection = Connection(None)
        self.gets = 0
        self.status_writes = 0

    async def get_object(self, plural: str, namespace: str, name: str) -> JSON | None:
        self.gets += 1
        return stored_task(int(name.rsplit("-", 1)[1]), namespace)

    async def get_job(self, namespace: str, name: str) -> JSON | None:
        return None

    async def list_pods(self, namespace: str, label_selector: str) -> list[JSON]:
        return []

    async def patch_status(self, plural: str, namespace: str, name: str, status: JSON) -> JSON:
        self.status_writes += 1
        return {"metadata": {"resourceVersion": "300000"}}


def _world(ttl: timedelta | None = None) -> tuple[Engine, Watches, _Kube]:
    """``ttl``: the operator's --default-ttl-after-finished (a wake-up for every task)."""
    fake = _Kube()
    kube = cast(Kube, fake)
    engine = Engine(OperatorSettings(namespaces=(NS,), default_ttl_after_finished=ttl), kube,
                    SecretCache(kube))
    return engine, Watches(engine), fake


def _list(watches: Watches, pages: list[bytes]) -> float:
    """Seconds to take every page into the indexes, as the tasks' informer does."""
    informer, seen = watches.informers[0], set[str]()
    started = time.perf_counter()
    for raw in pages:
        informer.take_page(raw, seen)
    return time.perf_counter() - started


async def _start_up_pass(engine: Engine) -> float:
    engine.view.complete = True
    engine.slots.listed(engine.view.task_keys())
    engine.slots.activate()
    started = time.perf_counter()
    while len(engine.queue):
        key = await engine.queue.get()
        await engine.tasks.reconcile(key)
        engine.queue.done(key)
    return time.perf_counter() - started


def main(argv: list[str]) -> int:
    count = int(argv[0]) if argv and argv[0].isdigit() else 20000
    # Far enough ahead that no stored task is due: each gets its wake-up, none is deleted.
    ttl = timedelta(days=3650) if "--ttl" in argv else None
    pages = list_pages(count, namespace=NS)
    size = sum(len(p) for p in pages)
    print(f"{count} stored tasks, {size / count:.0f} bytes of JSON each")
    engine, watches, fake = _world(ttl)
    listed = _list(watches, pages)
    passed = asyncio.run(_start_up_pass(engine))
    print(f"time: listing {listed:.2f}s, start-up pass "
          f"{passed:.2f}s ({fake.gets} gets, {fake.status_writes} status writes)")
    if "--time" in argv:
        return 0
    del engine, watches, fake
    gc.collect()
    tracemalloc.start(1)
    engine, watches, _fake = _world(ttl)
    _list(watches, pages)
    gc.collect()
    listed = tracemalloc.take_snapshot()
    asyncio.run(_start_up_pass(engine))
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    for label, snap in (("after the listing", listed), ("after the start-up pass", after)):
        stats = snap.statistics("lineno")
        total = sum(s.size for s in stats)
        print(f"\nheld {label}: {total / 2**20:.1f} MiB, {total / count:.0f} bytes per task")
        for stat in stats[:15]:
            frame = stat.traceback[0]
            where = f"{frame.filename.split('/operator/')[-1].split('/lib/')[-1]}:{frame.lineno}"
            print(f"  {stat.size / count:7.0f} B/task  {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
