"""`agenttasks operator`'s dashboard flags reach the settings."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner

import agenttasks.app
from agenttasks.cli.operator import operator, split_audiences
from agenttasks.controller.settings import OperatorSettings


def settings_of(monkeypatch: pytest.MonkeyPatch, *flags: str) -> OperatorSettings:
    seen: list[OperatorSettings] = []
    monkeypatch.setattr(agenttasks.app, "main", seen.append)  # nothing runs
    result = CliRunner().invoke(operator, list(flags))
    assert result.exit_code == 0, result.output
    return seen[0]


def test_token_audiences_default_to_none(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings_of(monkeypatch).dashboard_token_audiences == ()


def test_token_audiences_repeat_or_split_on_commas(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_of(monkeypatch, "--dashboard-token-audience=agenttasks",
                           "--dashboard-token-audience", "a, b,,agenttasks")
    assert settings.dashboard_token_audiences == ("agenttasks", "a", "b")


@pytest.mark.parametrize(("values", "audiences"), [
    ((), ()), (("",), ()), ((" , ",), ()), (("x",), ("x",)), (("x,y", "y"), ("x", "y")),
])
def test_split_audiences(values: tuple[str, ...], audiences: tuple[str, ...]) -> None:
    assert split_audiences(values) == audiences


def test_default_ttl_after_finished_is_a_duration_or_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings_of(monkeypatch).default_ttl_after_finished is None
    assert settings_of(monkeypatch, "--default-ttl-after-finished=").default_ttl_after_finished \
        is None
    assert settings_of(monkeypatch, "--default-ttl-after-finished", "7d") \
        .default_ttl_after_finished == timedelta(days=7)
    assert settings_of(monkeypatch, "--default-ttl-after-finished=90") \
        .default_ttl_after_finished == timedelta(seconds=90)


def test_a_default_ttl_that_is_not_a_duration_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agenttasks.app, "main", lambda _settings: None)
    result = CliRunner().invoke(operator, ["--default-ttl-after-finished=soon"])
    assert result.exit_code == 2 and "--default-ttl-after-finished" in result.output


def test_the_engine_hands_the_default_to_the_task_reconciler() -> None:
    from typing import cast

    from agenttasks.controller.engine import Engine
    from agenttasks.kube.client import Kube
    from agenttasks.kube.secrets import SecretCache

    kube = cast(Kube, object())
    engine = Engine(OperatorSettings(default_ttl_after_finished=timedelta(hours=2)), kube,
                    SecretCache(kube))
    assert engine.tasks.default_ttl == timedelta(hours=2)


def test_namespace_weights_reach_the_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings_of(monkeypatch).limits.namespace_weights == {}
    limits = settings_of(monkeypatch, "--namespace-weight", "team-a=3",
                         "--namespace-weight=team-b=1", "--max-running", "4").limits
    assert limits.namespace_weights == {"team-a": 3, "team-b": 1}
    assert (limits.max_running, limits.weight("team-a"), limits.weight("other")) == (4, 3, 1)


@pytest.mark.parametrize("bad", ["team-a", "team-a=0", "team-a=1001", "=2", "team-a=x",
                                 "team-a=-1"])
def test_a_bad_namespace_weight_is_refused(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setattr(agenttasks.app, "main", lambda _settings: None)
    result = CliRunner().invoke(operator, ["--namespace-weight", bad])
    assert result.exit_code == 2 and "--namespace-weight" in result.output


def test_a_namespace_weighted_twice_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agenttasks.app, "main", lambda _settings: None)
    result = CliRunner().invoke(operator, ["--namespace-weight", "a=1",
                                           "--namespace-weight", "a=2"])
    assert result.exit_code == 2 and "named twice" in result.output
