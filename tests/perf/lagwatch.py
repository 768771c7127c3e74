"""When each AgentTask was first seen, by a watch in a process of its own.

The watch runs apart from the benchmark's process so that its timestamps do not wait for the
threads that create tasks (the direct-write baselines create thousands in the benchmark's own
process, which would otherwise hold the GIL while the watch has an event to stamp). The same
watcher serves the operator's runs and the direct ones, so both are measured the same way.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agenttasks.api.meta import ANNOTATION_SCHEDULED_TIME, GROUP, VERSION


@dataclass(frozen=True)
class Sighting:
    namespace: str
    name: str
    seen: float  # wall clock (time.time()) when the watch delivered the ADDED event
    scheduled: float | None  # the scheduled-time annotation, as a wall-clock second

    @property
    def lag(self) -> float | None:
        return None if self.scheduled is None else self.seen - self.scheduled


def _scheduled(body: dict[str, Any]) -> float | None:
    value = (body["metadata"].get("annotations") or {}).get(ANNOTATION_SCHEDULED_TIME)
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _watch_one(kubeconfig: str, namespace: str, out: Any, ready: Any, stop: Any) -> None:
    """Watches one namespace from a listing, resuming where the watch broke. A resume can
    be refused (410 Gone: the version fell out of the API server's watch cache, which one
    busy namespace fills for every other of the same resource, as the burst's 2,000 tasks
    did for the quiet direct namespace): then it lists again, and the tasks it had not seen
    count as seen at that listing."""
    from kubernetes import client, config, watch

    configuration = client.Configuration()
    config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    custom = client.CustomObjectsApi(client.ApiClient(configuration))

    def listed() -> tuple[str, list[dict[str, Any]]]:
        listing = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "agenttasks")
        return listing["metadata"]["resourceVersion"], listing["items"]

    version, items = listed()
    seen: set[str] = {item["metadata"]["name"] for item in items}
    ready.put(namespace)
    while not stop.is_set():
        try:
            for event in watch.Watch().stream(
                    custom.list_namespaced_custom_object, GROUP, VERSION, namespace,
                    "agenttasks", resource_version=version, timeout_seconds=30,
                    allow_watch_bookmarks=True):
                now = time.time()
                body = event["object"]
                if event["type"] == "ERROR":
                    raise RuntimeError(f"watch error: {body}")
                version = body["metadata"]["resourceVersion"]
                name = body["metadata"].get("name", "")
                if event["type"] == "ADDED" and name not in seen:
                    seen.add(name)
                    out.put((namespace, name, now, _scheduled(body)))
                if stop.is_set():
                    return
        except Exception:  # a dropped or refused watch: list again, then resume from there
            time.sleep(0.1)
            with contextlib.suppress(Exception):
                version, items = listed()
                now = time.time()
                for item in items:
                    if (name := item["metadata"]["name"]) not in seen:
                        seen.add(name)
                        out.put((namespace, name, now, _scheduled(item)))


def _child(kubeconfig: str, namespaces: list[str], out: Any, ready: Any, stop: Any) -> None:
    threads = [threading.Thread(target=_watch_one, args=(kubeconfig, ns, out, ready, stop),
                                daemon=True) for ns in namespaces]
    for thread in threads:
        thread.start()
    stop.wait()


class LagWatch:
    """Sightings of new AgentTasks in ``namespaces``, from a child process; started (each
    namespace listed, its watch open) when the constructor returns."""

    def __init__(self, kubeconfig: str, namespaces: list[str], timeout: float = 60) -> None:
        context = multiprocessing.get_context("spawn")
        self._out: Any = context.Queue()
        ready: Any = context.Queue()
        self._stop = context.Event()
        self._process = context.Process(target=_child, daemon=True,
                                        args=(kubeconfig, namespaces, self._out, ready,
                                              self._stop))
        self._process.start()
        self._lock = threading.Lock()
        self._sightings: list[Sighting] = []
        self._drain = threading.Thread(target=self._collect, daemon=True)
        self._drain.start()
        for _ in namespaces:
            try:
                ready.get(timeout=timeout)
            except queue.Empty:
                self.close()
                raise TimeoutError(f"the task watch did not start within {timeout:.0f}s"
                                   ) from None

    def _collect(self) -> None:
        while True:
            try:
                item = self._out.get(timeout=0.2)
            except queue.Empty:
                if not self._process.is_alive():
                    return
                continue
            except (EOFError, OSError):
                return
            with self._lock:
                self._sightings.append(Sighting(*item))

    def sightings(self, namespace: str | None = None) -> list[Sighting]:
        with self._lock:
            return [s for s in self._sightings if namespace in (None, s.namespace)]

    def count(self, namespace: str | None = None) -> int:
        return len(self.sightings(namespace))

    def wait_count(self, namespace: str, count: int, timeout: float) -> bool:
        """Whether ``count`` tasks of ``namespace`` were seen within ``timeout``."""
        deadline = time.monotonic() + timeout
        while self.count(namespace) < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def close(self) -> None:
        self._stop.set()
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=5)
        with contextlib.suppress(Exception):
            self._drain.join(timeout=2)

    def __enter__(self) -> LagWatch:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
