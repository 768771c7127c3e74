"""Prometheus metrics of the operator, in one registry served at /metrics.

Counters and histograms are updated where things happen; the gauges (tasks by phase, queue
depth) are read from the operator's view at scrape time, so they can never drift from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)

GRANTS = Counter("agenttasks_slot_grants", "Slots granted to ready tasks by the queue.",
                 registry=REGISTRY)
RETRIES = Counter("agenttasks_retries", "Failed attempts followed by a scheduled retry.",
                  ["namespace"], registry=REGISTRY)
TIMEOUTS = Counter("agenttasks_timeouts", "Attempts that exceeded spec.timeout.",
                   ["namespace"], registry=REGISTRY)
DEADLINE_MISSES = Counter("agenttasks_deadline_misses",
                          "Tasks failed because spec.deadline passed.", ["namespace"],
                          registry=REGISTRY)
SLOT_TO_JOB = Histogram("agenttasks_slot_to_job_seconds",
                        "From a slot granted to the attempt's Job created.",
                        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
                        registry=REGISTRY)
START_PASSES = Histogram("agenttasks_start_passes",
                         "Reconcile passes of a task from ready to start to its Job created "
                         "(or resumed): the pass that offers it a slot, then the one after "
                         "the grant; more only when other events reconcile it meanwhile.",
                         buckets=(1, 2, 3, 4, 6, 10), registry=REGISTRY)
SCHEDULE_FIRE_LAG = Histogram("agenttasks_schedule_fire_lag_seconds",
                              "From a schedule's fire time to its task created.",
                              buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
                              registry=REGISTRY)
WEBHOOK_REQUESTS = Counter("agenttasks_webhook_requests", "Webhook deliveries answered.",
                           ["namespace", "trigger", "code"], registry=REGISTRY)


@dataclass
class StateSnapshot:
    tasks_by_phase: dict[tuple[str, str], int] = field(default_factory=dict)
    queue_depth: int = 0
    running: int = 0


class _StateCollector(Collector):
    def __init__(self) -> None:
        self.provider: Callable[[], StateSnapshot] = StateSnapshot

    def collect(self) -> Iterator[Metric]:
        state = self.provider()
        tasks = GaugeMetricFamily("agenttasks_tasks", "AgentTasks by namespace and phase.",
                                  labels=["namespace", "phase"])
        for (namespace, phase), count in sorted(state.tasks_by_phase.items()):
            tasks.add_metric([namespace, phase], count)
        yield tasks
        yield GaugeMetricFamily("agenttasks_queue_depth",
                                "Ready tasks waiting for a slot.", value=state.queue_depth)
        yield GaugeMetricFamily("agenttasks_running",
                                "Tasks holding a slot (a running Job, or one being created).",
                                value=state.running)


STATE = _StateCollector()
REGISTRY.register(STATE)
