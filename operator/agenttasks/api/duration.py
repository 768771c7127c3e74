"""Durations as users write them: integer seconds, or strings such as "30s" and "1h30m"."""

from __future__ import annotations

import functools
import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

# No backslashes: the pattern is also embedded in a CEL string literal.
DURATION_PATTERN = r"^([0-9]+([.][0-9]+)?(ms|s|m|h|d))+$"
_WHOLE = re.compile(DURATION_PATTERN)
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> timedelta:
    """Parses integer seconds or a Go-style duration string; rejects negatives and junk."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("a duration is integer seconds or a string such as '30s'")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration must not be negative")
        return _seconds(value)
    if isinstance(value, str):
        return _parse_text(value)
    raise ValueError("a duration is integer seconds or a string such as '30s'")


@functools.lru_cache(maxsize=256)
def _parse_text(value: str) -> timedelta:
    # Every stored task's spec is read at start-up, and their durations are a few strings
    # ("30s", "20m") over and over: each is parsed once (a timedelta is immutable).
    text = value.strip()
    if text.isdigit():
        return _seconds(int(text))
    if not _WHOLE.fullmatch(text):
        raise ValueError(f"{value!r} is not a duration such as '30s', '10m' or '1h30m'")
    return _seconds(sum(float(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(text)))


def _seconds(seconds: float) -> timedelta:
    # The CRD admits any int64 or digit string; timedelta stops at 999999999 days and raises
    # OverflowError, which is not a validation error and would escape model_validate.
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"{seconds:g} seconds is too long a duration") from None


def format_duration(value: timedelta) -> str:
    """The shortest "1h2m3s" form; whole seconds."""
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return text + (f"{secs}s" if secs or not text else "")


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({
        "x-kubernetes-int-or-string": True,
        "x-kubernetes-validations": [{
            "rule": f"type(self) == int ? self >= 0 : self.matches('{DURATION_PATTERN}')",
            "message": "must be integer seconds or a duration such as '30s', '10m' or '1h30m'",
        }],
    }),
]
