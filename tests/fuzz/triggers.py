"""AgentTaskTrigger specs. Valid ones name a Secret that `secrets()` provides."""

from __future__ import annotations

import base64
from typing import Any

from hypothesis import strategies as st

from agenttasks.api.trigger import MAX_FILTER_LENGTH
from tests.fuzz import tasks
from tests.fuzz import values as v
from tests.fuzz.cases import MISSING, Case, Expect, Kind

MAX_NAME = 40
PLAIN_SECRET = b"fuzz-plain-secret"
WHSEC_KEY = b"fuzz-standard-webhooks-key-32byt"


def secrets() -> list[dict[str, Any]]:
    """The Secrets valid triggers reference: one for each kind of key."""
    whsec = "whsec_" + base64.b64encode(WHSEC_KEY).decode()
    return [{"metadata": {"name": "fuzz-plain"}, "stringData": {"secret": PLAIN_SECRET.decode()}},
            {"metadata": {"name": "fuzz-whsec"}, "stringData": {"secret": whsec}}]


def secret_for(scheme: str) -> dict[str, str]:
    return {"name": "fuzz-whsec" if scheme == "standard-webhooks" else "fuzz-plain",
            "key": "secret"}


valid_filter = st.sampled_from([
    'body.action == "opened"', '"bug" in body.labels', "has(body.x) && body.x > 3",
    "body.number == 42 || body.number == 43", "true", "size(body) > 0",
    'body.pull_request.base.ref.startsWith("release-")', "body.a.b.c == null"])
invalid_filter = st.sampled_from([
    "body.action ==", "1 +", "(((", "body.", '"unterminated', "body.x.exists(", "&&",
    "body[", "}"])
valid_params = st.dictionaries(
    st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,20}\Z"),
    st.sampled_from(["number", "pull_request.number", "commits.0.id", "$.a.b", ".x", "$",
                     "日本.語"]), max_size=4)
invalid_params = st.sampled_from([
    {"1BAD": "x"}, {"has-dash": "x"}, {"": "x"}, {"A": "a..b"}, {"A": ".."}, {"A": "a."},
    {"A": 3}, {"A": ""}])


@st.composite
def valid_spec(draw: st.DrawFn) -> dict[str, Any]:
    scheme = draw(st.sampled_from(["standard-webhooks", "github", "hmac-sha256"]))
    spec: dict[str, Any] = {"secretRef": secret_for(scheme), "signature": scheme,
                            "taskTemplate": {"spec": draw(tasks.valid_spec())}}
    if scheme == "hmac-sha256" and draw(st.booleans()):
        spec["signatureHeader"] = draw(st.from_regex(r"\AX-[A-Za-z0-9-]{1,40}\Z"))
    if draw(st.booleans()):
        spec["dedupWindow"] = draw(v.valid_duration)
    if draw(st.booleans()):
        spec["rateLimit"] = {"perMinute": draw(st.integers(1, 100_000))}
    if draw(st.booleans()):
        spec["maxPayloadBytes"] = draw(st.integers(1, 1024 * 1024))
    if draw(st.booleans()):
        spec["filter"] = draw(valid_filter)
    if draw(st.booleans()):
        spec["params"] = draw(valid_params)
    return spec


@st.composite
def valid_case(draw: st.DrawFn) -> Case:
    return Case(Kind.TRIGGER, draw(valid_spec()), Expect.VALID, "valid")


@st.composite
def edge_case(draw: st.DrawFn, pick: int) -> Case:
    spec = draw(valid_spec())
    choices = [
        ("limits at bounds", {**spec, "rateLimit": {"perMinute": draw(st.sampled_from(
            [1, 100_000]))}, "maxPayloadBytes": draw(st.sampled_from([1, 1024 * 1024]))}, 0),
        ("signatureHeader at maxLength", {**spec, "signature": "hmac-sha256",
                                          "secretRef": secret_for("hmac-sha256"),
                                          "signatureHeader": "X" * 128}, 0),
        ("edge dedupWindow", {**spec, "dedupWindow": draw(v.edge_duration)}, 0),
        ("filter at maxLength", {**spec, "filter": "true" + " " * (MAX_FILTER_LENGTH - 4)}, 0),
        ("many params", {**spec, "params": {f"P{i}": f"a.{i}" for i in range(100)}}, 0),
        ("empty params", {**spec, "params": {}}, 0),
        ("name of 40 characters", spec, MAX_NAME),
        ("task template at the edge", {**spec, "taskTemplate": {
            "spec": draw(tasks.edge_case()).spec}}, 0),
    ]
    why, chosen, length = choices[pick % len(choices)]
    return Case(Kind.TRIGGER, chosen, Expect.EDGE, why, length)


@st.composite
def invalid_case(draw: st.DrawFn, pick: int) -> Case:
    spec = draw(valid_spec())
    task_mutant = draw(tasks.invalid_case())
    choices = [
        ("bad filter", {**spec, "filter": draw(invalid_filter)}, 0),
        ("filter too long", {**spec, "filter": "true" + " " * (MAX_FILTER_LENGTH - 3)}, 0),
        ("bad params", {**spec, "params": draw(invalid_params)}, 0),
        ("unknown signature scheme", {**spec, "signature": draw(st.sampled_from(
            ["md5", "HMAC-SHA256", "", "sha1"]))}, 0),
        ("secretRef without name", {**spec, "secretRef": {"key": "secret"}}, 0),
        ("secretRef with empty key", {**spec, "secretRef": {"name": "fuzz-plain", "key": ""}}, 0),
        ("secretRef missing", {k: val for k, val in spec.items() if k != "secretRef"}, 0),
        ("empty signatureHeader", {**spec, "signatureHeader": ""}, 0),
        ("signatureHeader too long", {**spec, "signatureHeader": "X" * 129}, 0),
        ("rateLimit out of bounds", {**spec, "rateLimit": {"perMinute": draw(
            st.sampled_from([0, -1, 100_001]))}}, 0),
        ("maxPayloadBytes out of bounds", {**spec, "maxPayloadBytes": draw(
            st.sampled_from([0, 1024 * 1024 + 1]))}, 0),
        ("bad dedupWindow", {**spec, "dedupWindow": draw(v.invalid_duration)}, 0),
        ("huge dedupWindow", {**spec, "dedupWindow": draw(v.huge_duration)}, 0),
        ("unknown field", {**spec, "url": "/hooks/x"}, 0),
        ("spec missing", MISSING, 0),
        ("name over 40 characters", spec, MAX_NAME + 1),
        (f"taskTemplate: {task_mutant.why}",
         {**spec, "taskTemplate": {"spec": task_mutant.spec}}
         if task_mutant.spec is not MISSING else {**spec, "taskTemplate": {}}, 0),
    ]
    why, chosen, length = choices[pick % len(choices)]
    if task_mutant.why in tasks.ONLY_ON_ITS_OWN and why == f"taskTemplate: {task_mutant.why}":
        return Case(Kind.TRIGGER, chosen, Expect.VALID, why, length)
    return Case(Kind.TRIGGER, chosen, Expect.INVALID, why, length)


def batches() -> list[tuple[st.SearchStrategy[Case], int]]:
    """(strategy, examples): every edge and invalid variant, plus valid specs."""
    return [(valid_case(), 10), *[(edge_case(i), 2) for i in range(8)],
            *[(invalid_case(i), 2) for i in range(17)]]
