"""`agenttasks operator`'s dashboard flags reach the settings."""

from __future__ import annotations

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
