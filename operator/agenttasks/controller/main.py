"""Runs the operator: kopf's reactor, our reconcilers and the HTTP server, in one loop."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import kopf

from agenttasks.kube.client import Kube
from agenttasks.web.dashboard import Dashboard
from agenttasks.web.hooks import DeliveryService
from agenttasks.web.progress import ProgressService
from agenttasks.web.server import start_http
from agenttasks.web.views import Sources

from .admission import configure_admission, register_admission
from .handlers import Watches, configure, register
from .runtime import Runtime
from .settings import OperatorSettings


async def run(settings: OperatorSettings) -> None:
    if settings.kubeconfig:
        os.environ["KUBECONFIG"] = settings.kubeconfig
    kube = Kube(settings.kubeconfig, connections=settings.workers * 6)
    runtime = Runtime(settings=settings, kube=kube)
    registry = kopf.OperatorRegistry()
    register(registry, runtime)
    watches = Watches(runtime)
    kopf_settings = kopf.OperatorSettings()
    configure(kopf_settings, settings.peering_lifetime)
    # kopf rescans namespaces and CRDs only to resolve namespace globs; without globs that
    # needs cluster-wide list rights the chart does not grant (and nothing to gain).
    kopf_settings.scanning.disabled = not settings.uses_patterns
    if settings.admission_cert_dir:
        register_admission(registry, runtime)
        configure_admission(kopf_settings, settings.admission_port,
                            Path(settings.admission_cert_dir))
    deliveries = DeliveryService(runtime.kube, runtime.secrets, runtime.trigger_index.get,
                                 settings.watches, runtime.ledger)
    dashboard = Dashboard(runtime.kube, Sources(runtime.view, runtime.schedule_view,
                                                runtime.trigger_index, settings.watches),
                          read_only_without_token=settings.dashboard_read_only)
    progress = ProgressService(runtime.kube, runtime.progress_tokens)
    http = await start_http(settings.http_port, deliveries, runtime.ready, dashboard, progress)
    background = asyncio.create_task(runtime.run(watches.informers))
    try:
        await kopf.operator(
            registry=registry,
            settings=kopf_settings,
            clusterwide=settings.clusterwide,
            namespaces=list(settings.namespaces),
            standalone=not settings.peering,
            peering_name=settings.peering,
            priority=settings.priority,
            identity=settings.identity or None,  # type: ignore[arg-type]
        )
    finally:
        background.cancel()
        await http.cleanup()
        await kube.close()


def main(settings: OperatorSettings) -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    # kopf reports every event handler call at INFO; our own log says what happened.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    asyncio.run(run(settings))
