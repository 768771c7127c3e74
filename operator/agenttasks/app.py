"""The composition root: the one place that builds the parts and wires them together.

One client (``Kube``) for every call the operator makes; the engine (controller/) that
reconciles; the HTTP side (web/) that serves webhook deliveries, agent progress, the
dashboard and metrics; the inboxes through which the HTTP side hands facts to the
reconcilers that own each status; and kopf, for the process, login, peering and the
admission server. controller/ and web/ never import each other: only this module (and the
CLI, which calls it) knows both.

``run_receiver`` wires the split receiver (`agenttasks receiver`): the same delivery
service, Secret cache and client, a watch of triggers only, and the forwarder that reports
its delivery counts to the operator; no reconcilers, admission, peering or dashboard.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path

import kopf
from aiohttp import web

from agenttasks import metrics
from agenttasks.api.visibility import AUTHENTICATION_CONFIG_MAP
from agenttasks.collector import FreezeAfterCollections
from agenttasks.controller.admission import configure_admission, register_admission
from agenttasks.controller.engine import Engine
from agenttasks.controller.kopf_setup import kopf_settings, register_login
from agenttasks.controller.queue_source import QueueSource
from agenttasks.controller.settings import OperatorSettings, ReceiverSettings
from agenttasks.controller.template_rights import TemplateRights
from agenttasks.controller.trigger_watch import TriggerWatch
from agenttasks.controller.watches import WATCHES_PER_SCOPE, Watches
from agenttasks.core.privilege import OperatorIdentity, identity_of
from agenttasks.inbox.delivery_counts import DeliveryCounts
from agenttasks.kube.access_reviews import AccessReviews
from agenttasks.kube.client import Kube
from agenttasks.kube.progress_auth import PodBindings, PodTokenReviews
from agenttasks.kube.secrets import SecretCache
from agenttasks.manifests.reviews import SELF_SUBJECT_REVIEW, username_of_self_review
from agenttasks.web.auth import Gate
from agenttasks.web.count_forwarder import CountForwarder, TokenSource, file_token
from agenttasks.web.count_intake import CountIntake
from agenttasks.web.dashboard import Dashboard
from agenttasks.web.feed import ChangeFeed
from agenttasks.web.hooks import MAX_IN_FLIGHT, DeliveryService, emit_warning
from agenttasks.web.progress_endpoint import ProgressEndpoint
from agenttasks.web.server import start_http
from agenttasks.web.views import Sources
from agenttasks.web.visibility_server import VisibilityServer

log = logging.getLogger("agenttasks.app")
FINAL_REPORT_S = 5.0  # a stopping receiver's last report of its counts


async def run(settings: OperatorSettings) -> None:
    if settings.kubeconfig:
        os.environ["KUBECONFIG"] = settings.kubeconfig
    # One client for every call and every watch: a connection per worker's calls in flight,
    # one per long-lived watch, and one per webhook delivery that may run at once (each
    # sends one create; connections open only when needed and idle ones close).
    watch_connections = WATCHES_PER_SCOPE * len(settings.informer_scopes)
    delivery_connections = MAX_IN_FLIGHT if settings.serve_hooks else 0
    kube = Kube(settings.kubeconfig,
                connections=settings.workers * 6 + watch_connections + delivery_connections)
    identity = await own_identity(kube, settings)
    access = AccessReviews(kube)  # admission and the dashboard share the kept answers
    engine = Engine(settings=settings, kube=kube, secrets=SecretCache(kube), identity=identity)
    feed = ChangeFeed()  # dashboard streams hear of each change to our kinds from it
    watches = Watches(engine, on_change=feed.changed)
    registry = kopf.OperatorRegistry()
    register_login(registry, settings.kubeconfig)
    chosen = kopf_settings(settings)
    if settings.admission_cert_dir:
        receiver = frozenset({settings.receiver_user} if settings.receiver_user else ())
        rights = TemplateRights(access, identity, settings.check_writer_rights, receiver)
        register_admission(registry, engine.view, settings.plan, rights)
        configure_admission(chosen, settings.admission_port, Path(settings.admission_cert_dir))
    # With a split receiver, this process parses no webhook bodies: no /hooks/, no filter
    # workers; the receiver's counts come in through the intake instead.
    deliveries = DeliveryService(kube, engine.secrets, engine.trigger_index.get,
                                 settings.watches, engine.counts) \
        if settings.serve_hooks else None
    intake = None
    if settings.receiver_user:
        audiences = (settings.receiver_audience,) if settings.receiver_audience else ()
        intake = CountIntake(Gate(kube, audiences=audiences), settings.receiver_user,
                             engine.counts, engine.trigger_index.get, settings.watches,
                             engine.ready, functools.partial(emit_warning, kube))
    queue = QueueSource(engine.view, engine.slots, settings.watches)
    dashboard = Dashboard(kube, Sources(engine.view, engine.schedule_view,
                                        engine.trigger_index, settings.watches, feed, queue),
                          read_only_without_token=settings.dashboard_read_only,
                          token_audiences=settings.dashboard_token_audiences, access=access)
    progress = ProgressEndpoint(PodTokenReviews(kube, settings.progress_audience),
                                PodBindings(kube), engine.reports, task=engine.view.summary,
                                jobs=engine.view.jobs, watched=settings.watches)
    http = await start_http(settings.http_port, deliveries, engine.ready, dashboard, progress,
                            intake=intake, metrics_port=settings.metrics_port)
    visibility = _visibility(kube, settings, queue, engine.ready)
    if deliveries is not None:
        deliveries.filters.start()  # the filter worker processes, before the first delivery
    collector = FreezeAfterCollections(asyncio.get_running_loop())
    background = [asyncio.create_task(engine.run(watches.informers)),
                  asyncio.create_task(_once_set(engine.synced, collector.install)),
                  *([asyncio.create_task(visibility.run())] if visibility else [])]
    try:
        await kopf.operator(
            registry=registry,
            settings=chosen,
            clusterwide=settings.clusterwide,
            namespaces=list(settings.namespaces),
            standalone=not settings.peering,
            peering_name=settings.peering,
            priority=settings.priority,
            identity=settings.identity or None,  # type: ignore[arg-type]
        )
    finally:
        for task in background:
            task.cancel()
        collector.uninstall()
        await _stop(http)
        if visibility:
            await visibility.stop()
        if deliveries is not None:
            deliveries.filters.close()
        await kube.close()


async def _once_set(event: asyncio.Event, then: Callable[[], None]) -> None:
    await event.wait()
    then()


def _visibility(kube: Kube, settings: OperatorSettings, queue: QueueSource,
                ready: Callable[[], bool]) -> VisibilityServer | None:
    if settings.visibility_port is None or not settings.visibility_cert_dir:
        return None

    async def read() -> dict[str, str]:
        found = await kube.get_config_map(*AUTHENTICATION_CONFIG_MAP)
        if found is None:
            raise LookupError("the ConfigMap {}/{} does not exist".format(
                *AUTHENTICATION_CONFIG_MAP))
        return dict(found.get("data") or {})

    return VisibilityServer(settings.visibility_port, Path(settings.visibility_cert_dir),
                            read, queue, ready)


async def own_identity(kube: Kube, settings: OperatorSettings) -> OperatorIdentity:
    """Who the API server takes the operator for (a SelfSubjectReview): the namespace and
    ServiceAccount that no task may use. Without an answer the operator does not start, as
    it could not tell its own identity from a task's."""
    try:
        review = await kube.review_self(SELF_SUBJECT_REVIEW)
    except Exception as exc:
        raise SystemExit(f"could not ask the API server who this operator is "
                         f"(SelfSubjectReview): {exc}") from None
    exact = tuple(ns for ns in settings.namespaces if not set(ns) & set("*?["))
    identity = identity_of(username_of_self_review(review), exact)
    log.info("running as %s", identity.username or username_of_self_review(review) or "?")
    return identity


async def run_receiver(settings: ReceiverSettings) -> None:
    # The task gauges are the operator's: a receiver has no view of tasks, and its zeros
    # would sit beside the operator's real values in every scrape.
    metrics.REGISTRY.unregister(metrics.STATE)
    kube = Kube(settings.kubeconfig,
                connections=MAX_IN_FLIGHT + len(settings.informer_scopes))
    triggers = TriggerWatch(kube, settings)
    forwarder = CountForwarder(DeliveryCounts(), settings.operator_url,
                               _receiver_token(settings, kube))
    deliveries = DeliveryService(kube, SecretCache(kube), triggers.view.get, settings.watches,
                                 forwarder.counts, warn=forwarder.warn)
    http = await start_http(settings.http_port, deliveries, triggers.ready,
                            metrics_port=settings.metrics_port)
    deliveries.filters.start()
    # No kopf here to turn SIGTERM into a clean stop: this does, so that the counts of the
    # last seconds are still reported.
    current = asyncio.current_task()
    assert current is not None
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, current.cancel)
    log.info("receiver serving /hooks/ on port %d; counts go to %s", settings.http_port,
             settings.operator_url)
    try:
        await asyncio.gather(triggers.run(), forwarder.run())
    finally:
        await _stop(http)  # answers the deliveries in flight first
        with contextlib.suppress(Exception):
            await asyncio.wait_for(forwarder.flush(), FINAL_REPORT_S)
        await forwarder.close()
        deliveries.filters.close()
        await kube.close()
        log.info("receiver stopped")


def _receiver_token(settings: ReceiverSettings, kube: Kube) -> TokenSource:
    if settings.operator_token_file:
        return file_token(settings.operator_token_file)

    async def api_token() -> str | None:
        await kube.connection.session()  # loads the credentials
        credentials = kube.connection.credentials
        return credentials.token if credentials else None
    return api_token


async def _stop(runners: list[web.AppRunner]) -> None:
    for runner in runners:
        await runner.cleanup()


def _logging() -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kubernetes").setLevel(logging.WARNING)


def main(settings: OperatorSettings) -> None:
    _logging()
    # kopf reports every event handler call at INFO; our own log says what happened.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    asyncio.run(run(settings))


def main_receiver(settings: ReceiverSettings) -> None:
    _logging()
    with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
        asyncio.run(run_receiver(settings))
