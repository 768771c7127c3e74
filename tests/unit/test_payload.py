import hashlib
import re
from typing import Any

import pytest

from agenttasks.core.payload import (
    TASK_NAME_MAX_LENGTH,
    env_values,
    extract,
    parse_path,
    task_name,
)

PAYLOAD: dict[str, Any] = {
    "action": "opened",
    "number": 42,
    "draft": False,
    "score": 1.5,
    "closed_at": None,
    "repository": {"full_name": "octo/repo", "owner": {"login": "octo"}},
    "commits": [{"id": "abc"}, {"id": "def"}],
    "labels": ["bug", "ui"],
    "0": "zero-key",
    "text": "naïve, \"quoted\"",
}

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@pytest.mark.parametrize("path, expected", [
    ("action", "opened"),
    ("repository.full_name", "octo/repo"),
    ("repository.owner.login", "octo"),
    ("commits.0.id", "abc"),
    ("commits.1.id", "def"),
    ("$.commits.1.id", "def"),
    (".labels.1", "ui"),
    ("0", "zero-key"),  # on an object, digits are a key
    ("draft", False),
    ("number", 42),
])
def test_extract(path: str, expected: Any) -> None:
    assert extract(PAYLOAD, path) == expected


@pytest.mark.parametrize("path", [
    "nope", "repository.nope", "repository.full_name.deeper", "commits.2.id", "commits.-1.id",
    "commits.first", "labels.0.name", "closed_at", "closed_at.x", "number.0",
])
def test_missing_paths_give_none(path: str) -> None:
    assert extract(PAYLOAD, path) is None


def test_whole_payload() -> None:
    assert extract(PAYLOAD, "$") is PAYLOAD
    assert extract(PAYLOAD, ".") is PAYLOAD
    assert extract([1, 2], "1") == 2


@pytest.mark.parametrize("path", ["", "a..b", "a.", "$..a", "..", "$.", " "])
def test_malformed_paths(path: str) -> None:
    with pytest.raises(ValueError):
        parse_path(path)
    with pytest.raises(ValueError):
        extract(PAYLOAD, path)


def test_parse_path() -> None:
    assert parse_path("$.a.0.b") == ("a", "0", "b")
    assert parse_path("a") == ("a",)


def test_env_values() -> None:
    params = {
        "ACTION": "action", "NUMBER": "number", "DRAFT": "draft", "SCORE": "score",
        "REPO": "repository", "LABELS": "labels", "MISSING": "nope", "CLOSED": "closed_at",
        "TEXT": "text",
    }
    assert env_values(PAYLOAD, params) == {
        "ACTION": "opened",
        "NUMBER": "42",
        "DRAFT": "false",
        "SCORE": "1.5",
        "REPO": '{"full_name":"octo/repo","owner":{"login":"octo"}}',
        "LABELS": '["bug","ui"]',
        "MISSING": "",
        "CLOSED": "",
        "TEXT": 'naïve, "quoted"',
    }


def test_env_values_of_a_non_object_payload() -> None:
    assert env_values("just text", {"A": "x", "ALL": "$"}) == {"A": "", "ALL": "just text"}


def test_task_name_is_deterministic_and_follows_the_recipe() -> None:
    digest = hashlib.sha256(b"on-push\x0072d3162e-cc78-11e3-81ab-4c9367dc0958").hexdigest()
    name = task_name("on-push", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert name == f"on-push-{digest[:10]}"
    assert name == task_name("on-push", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert name != task_name("on-push", "72d3162e-cc78-11e3-81ab-4c9367dc0959")


@pytest.mark.parametrize("trigger", [
    "a", "on-push", "x" * 100, "a" * 40 + "-" + "b" * 20, "a" * 41 + "-" * 10,
    "My.Trigger_Name", "---", "ünïcode", "-leading", "a.b.c",
])
@pytest.mark.parametrize("delivery_id", ["d", "msg_p5jXN8AQM9LWM0D4loKWxJek", "é" * 500, ""])
def test_task_name_is_a_valid_short_label(trigger: str, delivery_id: str) -> None:
    name = task_name(trigger, delivery_id)
    assert len(name) <= TASK_NAME_MAX_LENGTH == 52
    assert DNS1123_LABEL.match(name), name
    assert len(f"{name}-999") <= 63


def test_task_name_truncates_the_trigger_and_strips_dashes() -> None:
    name = task_name("a" * 40 + "-" + "b" * 20, "d")
    assert name.startswith("a" * 40 + "-") and len(name) == 51
    assert task_name("My.Trigger_Name", "d").startswith("my-trigger-name-")
    assert task_name("---", "d").startswith("webhook-")
