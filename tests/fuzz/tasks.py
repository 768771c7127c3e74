"""AgentTask specs: valid ones that finish within seconds on kwok, edge ones at the bounds,
and invalid ones, each built from a valid spec by one mutation."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from tests.fuzz import values as v
from tests.fuzz.cases import MISSING, SELF, Case, Expect, Kind

Spec = dict[str, Any]
Mutation = Callable[[Spec, str], Any]


@st.composite
def pod_template(draw: st.DrawFn) -> dict[str, Any]:
    """A pod that kwok runs for a moment, then succeeds or (sometimes) fails."""
    annotations = {"sim.agenttasks.io/duration": draw(st.sampled_from(["0s", "500ms", "1s"]))}
    if draw(st.booleans()) and draw(st.booleans()):
        annotations["sim.agenttasks.io/result"] = "Failed"
    return {"metadata": {"annotations": annotations},
            "spec": {"containers": [{"name": "agent", "image": "busybox"}]}}


SUCCEEDING_POD = {"metadata": {"annotations": {"sim.agenttasks.io/duration": "0s"}},
                  "spec": {"containers": [{"name": "agent", "image": "busybox"}]}}


@st.composite
def valid_spec(draw: st.DrawFn) -> Spec:
    """A spec that runs to a terminal phase within seconds."""
    spec: Spec = {"template": draw(pod_template())}
    if draw(st.booleans()):
        spec["priority"] = draw(st.integers(-1_000_000, 1_000_000))
    if draw(st.booleans()):
        spec["retries"] = {"limit": draw(st.integers(0, 1)), "delay": draw(st.sampled_from(
            [0, "0s", "1s", "100ms"])), "backoffFactor": draw(st.floats(1, 100)),
            "maxDelay": draw(v.valid_duration)}
    if draw(st.booleans()):
        spec["timeout"] = draw(st.sampled_from([60, "30s", "1h", "1h30m", "2d"]))
    if draw(st.booleans()):
        spec["deadline"] = draw(st.sampled_from(["2099-01-01T00:00:00Z", "2000-01-01T00:00:00Z",
                                                 "2099-06-01T12:00:00+05:45"]))
    if draw(st.booleans()):
        spec["startAfter"] = draw(st.sampled_from(["2000-01-01T00:00:00Z",
                                                   "1970-01-01T00:00:00Z"]))
    if draw(st.booleans()):
        spec["displayName"] = draw(v.text(256))
    if draw(st.booleans()):
        spec["description"] = draw(v.text(300))
    if draw(st.booleans()):
        spec["parallelism"] = draw(st.integers(1, 3))
        spec["completions"] = draw(st.integers(1, 3))
    if draw(st.booleans()):
        spec["cancelled"] = draw(st.booleans())
    return spec


def _with(path: str, value: Any) -> Mutation:
    """Sets spec[path] (dotted) to ``value``."""
    def mutate(spec: Spec, _name: str) -> Spec:
        out = copy.deepcopy(spec)
        node = out
        *parents, leaf = path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
        return out
    return mutate


def _without(key: str) -> Mutation:
    return lambda spec, _name: {k: val for k, val in spec.items() if k != key}


# (why, strategy of the value to put at a spec path): refused by the schema or CEL.
SCHEMA_VIOLATIONS: list[tuple[str, str, st.SearchStrategy[Any]]] = [
    ("priority out of bounds", "priority",
     st.sampled_from([1_000_001, -1_000_001, 2**63, -(2**63) - 1])),
    ("priority of wrong type", "priority", st.sampled_from(["high", 1.5, True, [], {}])),
    ("parallelism out of bounds", "parallelism", st.sampled_from([0, -1, 10_001])),
    ("completions out of bounds", "completions", st.sampled_from([0, -5, 100_001])),
    ("retries.limit out of bounds", "retries.limit", st.sampled_from([-1, 1001])),
    ("retries.backoffFactor out of bounds", "retries.backoffFactor",
     st.sampled_from([0, 0.5, 100.5, "x"])),
    ("bad retries.delay", "retries.delay", v.invalid_duration),
    ("bad retries.maxDelay", "retries.maxDelay", v.invalid_duration),
    ("bad timeout", "timeout", v.invalid_duration),
    ("bad deadline", "deadline", v.invalid_time),
    ("bad startAfter", "startAfter", v.invalid_time),
    ("dependsOn not a name", "dependsOn",
     st.sampled_from([["Bad_Name"], ["a b"], [""], ["-x"], ["x" * 254], [1], "x", {}])),
    ("dependsOn too long", "dependsOn", st.just([f"d{i}" for i in range(65)])),
    ("dependsOn duplicates", "dependsOn", st.just(["same", "same"])),
    ("paused of wrong type", "paused", st.sampled_from(["yes", 1, [], {}])),
    ("cancelled of wrong type", "cancelled", st.sampled_from(["true", 0])),
    ("displayName too long", "displayName", v.exact_text(257)),
    ("description too long", "description", v.exact_text(4097)),
    ("unknown field", "fooBar", v.wrong_type),
    ("unknown nested field", "retries.jitter", st.just(0.5)),
    ("template of wrong type", "template", st.sampled_from(["x", [], 3, True])),
]

# What the schema admits and the operator must refuse itself (InvalidSpec, DependencyCycle).
OPERATOR_VIOLATIONS: list[tuple[str, Mutation]] = [
    ("huge timeout", lambda s, n: {**s, "timeout": 10**15}),
    ("huge retries.delay", lambda s, n: {**s, "retries": {"delay": "100000000000d"}}),
    ("huge retries.maxDelay", lambda s, n: {**s, "retries": {"maxDelay": 2**62}}),
    ("pod template without containers", lambda s, n: {**s, "template": {"spec": {}}}),
    ("empty pod template", lambda s, n: {**s, "template": {}}),
    ("pod template metadata not an object", lambda s, n: {
        **s, "template": {**s["template"], "metadata": "x"}}),
    ("pod template labels not a map", lambda s, n: {
        **s, "template": {**s["template"], "metadata": {"labels": ["a"]}}}),
    ("pod template spec not an object", lambda s, n: {**s, "template": {"spec": "x"}}),
    ("containers not a list", lambda s, n: {**s, "template": {"spec": {"containers": "x"}}}),
    ("container name invalid", lambda s, n: {**s, "template": {"spec": {"containers": [
        {"name": "Bad Name!", "image": "busybox"}]}}}),
    ("self-dependency", lambda s, n: {**s, "dependsOn": [n]}),
    # A Job with an unknown field is refused (by the client, as `kubectl apply` would).
    ("unknown field inside the pod template", lambda s, n: {**s, "template": {
        **s["template"], "spec": {"containers": [
            {"name": "agent", "image": "busybox", "fooBar": 1}]}}}),
]


# Faults of a task that a schedule's or trigger's taskTemplate cannot show: the API server
# refuses the pod template only when a task's Job is created, and the tasks they create are
# named after them plus a suffix (so "depends on itself" names another task).
ONLY_ON_ITS_OWN = {"pod template without containers", "empty pod template",
                   "containers not a list", "container name invalid", "self-dependency",
                   "unknown field inside the pod template"}


@st.composite
def valid_case(draw: st.DrawFn) -> Case:
    return Case(Kind.TASK, draw(valid_spec()), Expect.VALID, "valid")


@st.composite
def edge_case(draw: st.DrawFn, pick: int | None = None) -> Case:
    """The edge numbered ``pick``, or one drawn at random."""
    spec = draw(valid_spec())
    held = {**spec, "paused": True}
    choices: list[tuple[str, Spec, int]] = [
        ("priority at maximum", {**spec, "priority": 1_000_000}, 0),
        ("priority at minimum", {**spec, "priority": -1_000_000}, 0),
        ("displayName at maxLength", {**spec, "displayName": draw(v.exact_text(256))}, 0),
        ("description at maxLength", {**spec, "description": draw(v.exact_text(4096))}, 0),
        ("64 dependencies that do not exist",
         {**spec, "dependsOn": [f"missing-{i}" for i in range(64)]}, 0),
        ("empty lists and maps", {**spec, "dependsOn": [], "template": {
            **spec["template"], "metadata": {**spec["template"]["metadata"], "labels": {}}}}, 0),
        ("parallelism and completions at maximum, paused",
         {**held, "parallelism": 10_000, "completions": 100_000}, 0),
        # The pod succeeds: a thousand failing attempts would outlast the run.
        ("retries at maximum", {**spec, "template": SUCCEEDING_POD, "retries": {
            "limit": 1000, "backoffFactor": 100, "delay": "0s", "maxDelay": "999999d"}}, 0),
        ("edge timeout", {**spec, "timeout": draw(v.edge_duration)}, 0),
        ("edge deadline", {**spec, "deadline": draw(v.edge_time)}, 0),
        ("edge startAfter", {**spec, "startAfter": draw(v.edge_time)}, 0),
        ("unicode annotation value", {**spec, "template": {
            **spec["template"], "metadata": {"annotations": {
                **spec["template"]["metadata"]["annotations"], "note": draw(v.text(200))}}}}, 0),
        ("name of 63 characters", spec, 63),
    ]
    why, chosen, length = (choices[pick % len(choices)] if pick is not None
                           else draw(st.sampled_from(choices)))
    return Case(Kind.TASK, chosen, Expect.EDGE, why, length)


SHAPE_VIOLATIONS: list[tuple[str, Mutation]] = [
    ("spec missing", lambda s, n: MISSING), ("spec of wrong type", lambda s, n: "run it"),
    ("spec a list", lambda s, n: [s]), ("template missing", _without("template")),
]
INVALID = [*[(why, path) for why, path, _ in SCHEMA_VIOLATIONS],
           *[(why, None) for why, _ in [*OPERATOR_VIOLATIONS, *SHAPE_VIOLATIONS]],
           ("name over 63 characters", None)]


@st.composite
def invalid_case(draw: st.DrawFn, pick: int | None = None) -> Case:
    """The invalid variant numbered ``pick``, or one drawn at random."""
    spec = draw(valid_spec())
    index = pick % len(INVALID) if pick is not None else draw(st.integers(0, len(INVALID) - 1))
    why, path = INVALID[index]
    if path is not None:
        values = dict((w, val) for w, _, val in SCHEMA_VIOLATIONS)
        return Case(Kind.TASK, _with(path, draw(values[why]))(spec, SELF), Expect.INVALID, why)
    if why == "name over 63 characters":
        return Case(Kind.TASK, spec, Expect.INVALID, why, draw(st.sampled_from([64, 253, 254])))
    mutate = dict([*OPERATOR_VIOLATIONS, *SHAPE_VIOLATIONS])[why]
    return Case(Kind.TASK, mutate(spec, SELF), Expect.INVALID, why)


def batches() -> list[tuple[st.SearchStrategy[Case], int]]:
    """(strategy, examples): every edge and invalid variant, plus valid specs."""
    return [(valid_case(), 12), *[(edge_case(i), 2) for i in range(13)],
            *[(invalid_case(i), 1) for i in range(len(INVALID))]]
