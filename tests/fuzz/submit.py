"""Submitting cases to the API server and waiting for the operator's verdicts."""

from __future__ import annotations

import json
import time
from typing import Any

from kubernetes.client.exceptions import ApiException

from agenttasks.api.meta import GROUP, VERSION
from tests.fuzz.cases import Case, Kind
from tests.fuzz.outcomes import Outcome, Verdict, classify
from tests.integration.harness import Api

# How the API server says no to a manifest: 400 bad request (strict field validation),
# 422 invalid (schema, CEL), 403/400 from the admission webhook. Anything else (a 500 because
# the admission webhook failed, say) is not a refusal but an error.
REFUSAL_CODES = {400, 403, 422}


def submit(api: Api, namespace: str, case: Case) -> Outcome:
    """Creates the object as `kubectl apply` would: unknown fields are an error."""
    try:
        api.custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, case.kind.plural, case.manifest,
            field_validation="Strict")
    except ApiException as exc:
        message = _message(exc)
        if exc.status in REFUSAL_CODES:
            return Outcome(case, Verdict.REFUSED, f"{exc.status}: {message}")
        return Outcome(case, Verdict.UNDECIDED, f"API error {exc.status}: {message}")
    return Outcome(case, Verdict.UNDECIDED, "accepted")


def _message(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or "{}").get("message", ""))[:300]
    except ValueError:
        return str(exc.body)[:300]


def await_verdicts(api: Api, pending: dict[str, list[Outcome]], timeout: float) -> None:
    """Fills in the verdict of every accepted outcome (namespace → outcomes), polling lists of
    each kind until all have one or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        waiting = 0
        for namespace, outcomes in pending.items():
            objects = {kind: _by_name(api, namespace, kind) for kind in Kind}
            for outcome in outcomes:
                if outcome.verdict != Verdict.UNDECIDED and outcome.verdict != Verdict.HELD:
                    continue
                body = objects[outcome.case.kind].get(outcome.case.name)
                if body is None:
                    outcome.detail = "vanished"
                    continue
                outcome.verdict, outcome.detail = classify(outcome.case.kind, body)
                waiting += outcome.verdict == Verdict.UNDECIDED
        if not waiting or time.monotonic() > deadline:
            return
        time.sleep(1)


def _by_name(api: Api, namespace: str, kind: Kind) -> dict[str, dict[str, Any]]:
    listed = api.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, kind.plural)
    return {item["metadata"]["name"]: item for item in listed["items"]}
