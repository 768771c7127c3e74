from datetime import timedelta

import pytest
from pydantic import ValidationError

from agenttasks.api.duration import format_duration, parse_duration
from agenttasks.api.task import AgentTaskSpec


@pytest.mark.parametrize(("text", "seconds"), [
    (30, 30), ("45", 45), ("30s", 30), ("10m", 600), ("1h30m", 5400), ("1.5h", 5400),
    ("250ms", 0.25), ("2d", 172800), ("1h0m5s", 3605), (0, 0),
])
def test_parses(text: object, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("bad", ["", "10", "-5s", "5x", "1h 30m", "m", True, -1, None, [1]])
def test_rejects(bad: object) -> None:
    if bad == "10":  # plain digits in a string are seconds
        assert parse_duration(bad) == timedelta(seconds=10)
        return
    with pytest.raises(ValueError):
        parse_duration(bad)


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (5, "5s"), (600, "10m"), (5400, "1h30m"), (3605, "1h5s")])
def test_formats(seconds: int, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text
    assert parse_duration(text) == timedelta(seconds=seconds)


def test_durations_beyond_timedelta_are_validation_errors() -> None:
    for huge in (10**15, "100000000000d", "99999999999999999999s"):
        with pytest.raises(ValidationError, match="too long"):
            AgentTaskSpec.model_validate({"template": {}, "timeout": huge})
