"""`agenttasks receiver` and the operator's flags for a split receiver: what reaches the
settings, and what is refused before anything starts."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

import agenttasks.app
from agenttasks.cli.main import cli
from agenttasks.controller.settings import OperatorSettings, ReceiverSettings


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The settings each command would have run with; nothing runs."""
    seen: list[Any] = []
    monkeypatch.setattr(agenttasks.app, "main", seen.append)
    monkeypatch.setattr(agenttasks.app, "main_receiver", seen.append)
    return seen


def test_the_receiver_gets_its_flags(started: list[Any]) -> None:
    result = CliRunner().invoke(cli, [
        "receiver", "--operator-url", "http://agenttasks.agenttasks-system.svc:80",
        "-n", "team-a", "-n", "team-b", "--http-port", "9000", "--metrics-port", "9090",
        "--operator-token-file", "/var/run/token"])
    assert result.exit_code == 0, result.output
    assert started == [ReceiverSettings(
        operator_url="http://agenttasks.agenttasks-system.svc:80",
        namespaces=("team-a", "team-b"), http_port=9000, metrics_port=9090,
        operator_token_file="/var/run/token")]
    assert started[0].watches("team-a") and not started[0].watches("team-c")


@pytest.mark.parametrize(("args", "mention"), [
    ([], "--operator-url"),
    (["--operator-url", "agenttasks:80"], "--operator-url"),
    (["--operator-url", "ftp://agenttasks"], "--operator-url"),
    (["--operator-url", "http://x", "--metrics-port", "8080"], "--metrics-port"),
])
def test_the_receiver_refuses_what_cannot_work(started: list[Any], args: list[str],
                                               mention: str) -> None:
    result = CliRunner().invoke(cli, ["receiver", *args])
    assert result.exit_code == 2 and mention in result.output, result.output
    assert started == []


def test_the_operator_can_leave_hooks_to_a_receiver(started: list[Any]) -> None:
    user = "system:serviceaccount:agenttasks-system:agenttasks-receiver"
    result = CliRunner().invoke(cli, [
        "operator", "--no-hooks", "--receiver-user", user,
        "--receiver-audience", "agenttasks-operator", "--metrics-port", "9090"])
    assert result.exit_code == 0, result.output
    [settings] = started
    assert isinstance(settings, OperatorSettings)
    assert (settings.serve_hooks, settings.receiver_user, settings.receiver_audience,
            settings.metrics_port) == (False, user, "agenttasks-operator", 9090)


def test_by_default_the_operator_serves_hooks_and_metrics_on_its_port(
        started: list[Any]) -> None:
    assert CliRunner().invoke(cli, ["operator"]).exit_code == 0
    [settings] = started
    assert settings.serve_hooks and settings.receiver_user is None
    assert settings.metrics_port is None
    refused = CliRunner().invoke(cli, ["operator", "--metrics-port", "8080"])
    assert refused.exit_code == 2 and "--metrics-port" in refused.output
