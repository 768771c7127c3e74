"""Leadership over a fake client: where it looks for kopf's peering keep-alives."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, cast

from agenttasks.api.timefmt import format_time, utcnow
from agenttasks.controller.leadership import Leadership
from agenttasks.controller.settings import OperatorSettings
from agenttasks.kube.client import Kube


class FakeKube:
    def __init__(self, namespaces: list[str], peers: dict[str | None, dict[str, Any]]) -> None:
        self.namespaces, self.peers = namespaces, peers
        self.asked: list[str | None] = []

    async def list_namespaces(self) -> list[str]:
        return list(self.namespaces)

    async def peering_status(self, name: str, namespace: str | None) -> dict[str, Any] | None:
        self.asked.append(namespace)
        return self.peers.get(namespace)


def _alive(priority: int) -> dict[str, Any]:
    return {"priority": priority, "lifetime": 60,
            "lastseen": format_time(utcnow() - timedelta(seconds=1))}


def _check(settings: OperatorSettings, kube: FakeKube) -> bool:
    async def noop() -> None:
        pass

    leadership = Leadership(cast(Kube, kube), settings, noop, lambda: None)
    return asyncio.run(leadership._check())


def test_a_namespace_glob_is_resolved_to_the_namespaces_kopf_serves() -> None:
    """kopf keeps one peering object per served namespace; with --namespace 'team-*' those
    are team-a and team-b, not a namespace literally named 'team-*'."""
    settings = OperatorSettings(namespaces=("team-*",), peering="agenttasks", identity="me",
                                priority=5)
    kube = FakeKube(["team-a", "other", "team-b"],
                    {"team-a": {"me": _alive(5)}, "team-b": {"me": _alive(5)}})
    assert _check(settings, kube) is True
    assert kube.asked == ["team-a", "team-b"]


def test_a_higher_priority_peer_in_any_matching_namespace_pauses_this_replica() -> None:
    settings = OperatorSettings(namespaces=("team-*",), peering="agenttasks", identity="me",
                                priority=5)
    kube = FakeKube(["team-a", "team-b"],
                    {"team-a": {"me": _alive(5)},
                     "team-b": {"me": _alive(5), "other": _alive(9)}})
    assert _check(settings, kube) is False


def test_literal_namespaces_and_cluster_wide_peering() -> None:
    named = OperatorSettings(namespaces=("a", "b"), peering="p", identity="me", priority=1)
    kube = FakeKube([], {"a": {"me": _alive(1)}, "b": {"me": _alive(1)}})
    assert _check(named, kube) is True and kube.asked == ["a", "b"]
    clusterwide = OperatorSettings(peering="p", identity="me", priority=1)
    kube = FakeKube([], {None: {"me": _alive(1)}})
    assert _check(clusterwide, kube) is True and kube.asked == [None]


def test_no_matching_namespace_means_nobody_leads_yet() -> None:
    settings = OperatorSettings(namespaces=("team-*",), peering="p", identity="me")
    assert _check(settings, FakeKube(["other"], {})) is False
