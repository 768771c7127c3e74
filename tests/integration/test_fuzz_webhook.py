"""Fuzzed deliveries to the operator's webhook endpoint (/hooks/<namespace>/<trigger>).

Three Ready triggers (hmac-sha256 with params, github, standard-webhooks) receive requests with
random headers (garbled or wrong-algorithm signatures, huge and non-ASCII values) and random
bodies (bytes, JSON, UTF-16 JSON, deep nesting, over 1 MiB). None is validly signed, so: no
task may be created, and no answer may be a 5xx. Then bodies signed with the right key go to
the hmac-sha256 trigger: every JSON object among them must be accepted (202) and create its
task, so that the first check can fail; nothing may be a 5xx either.
"""

from __future__ import annotations

import http.client
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from agenttasks.api.meta import GROUP, VERSION
from tests.fuzz import deliveries as d
from tests.fuzz.oplog import OperatorLog
from tests.fuzz.triggers import PLAIN_SECRET, secret_for, secrets

from .harness import Api, Operator, pod_template, wait_for

TRIGGERS = {"hmac": "hmac-sha256", "gh": "github", "sw": "standard-webhooks"}
UNSIGNED_EXAMPLES = 150
SIGNED_EXAMPLES = 40
# No shrinking: a failing example is reported as found, without replaying it at the server.
FUZZ = settings(derandomize=True, database=None, phases=[Phase.generate], deadline=None,
                suppress_health_check=list(HealthCheck))


@pytest.fixture
def hook_env(api: Api, own_ns: str) -> Iterator[tuple[Operator, OperatorLog, str]]:
    for secret in secrets():
        api.core.create_namespaced_secret(own_ns, secret)
    for name, scheme in TRIGGERS.items():
        spec: dict[str, Any] = {
            "secretRef": secret_for(scheme), "signature": scheme,
            "rateLimit": {"perMinute": 100_000},
            # Paused: the check is about the endpoint, not about running pods.
            "taskTemplate": {"spec": {"template": pod_template("0s"), "paused": True}}}
        if name == "hmac":
            spec["params"] = {"NUMBER": "number", "FIRST": "commits.0.id", "V": "value"}
        api.custom.create_namespaced_custom_object(GROUP, VERSION, own_ns, "agenttasktriggers", {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "AgentTaskTrigger",
            "metadata": {"name": name}, "spec": spec})
    operator = Operator(api.operator_kubeconfig, [own_ns], "fuzz-webhook")
    log = OperatorLog(operator.log_path).start()
    operator.start()
    try:
        for name in TRIGGERS:
            wait_for(lambda n=name: _ready(api, own_ns, n), 30, what=f"trigger {name} Ready")
        yield operator, log, own_ns
    finally:
        operator.stop()


def _ready(api: Api, namespace: str, name: str) -> bool:
    body = api.custom.get_namespaced_custom_object(GROUP, VERSION, namespace,
                                                   "agenttasktriggers", name)
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in (body.get("status") or {}).get("conditions") or [])


def _post(port: int, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest("POST", path, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        if not any(n.lower() == "content-length" for n in headers):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, response.read()
    except (http.client.HTTPException, ConnectionError) as exc:
        return 0, str(exc).encode()  # the server hung up: counted, and not a 5xx
    finally:
        conn.close()


def _tasks(api: Api, namespace: str) -> list[str]:
    listed = api.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "agenttasks")
    return sorted(t["metadata"]["name"] for t in listed["items"])


def test_fuzzed_webhook_deliveries(api: Api, hook_env: tuple[Operator, OperatorLog, str],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    operator, log, namespace = hook_env
    unsigned: Counter[int] = Counter()
    signed: Counter[int] = Counter()
    server_errors: list[str] = []
    created: set[str] = set()

    @settings(FUZZ, max_examples=UNSIGNED_EXAMPLES)
    @given(st.sampled_from(sorted(TRIGGERS)), d.headers, d.body)
    def send_unsigned(trigger: str, headers: dict[str, str], body: bytes) -> None:
        status, answer = _post(operator.port, f"/hooks/{namespace}/{trigger}", body, headers)
        unsigned[status] += 1
        if status >= 500:
            server_errors.append(f"unsigned {trigger} {headers!r:.200} -> {status} {answer!r}")

    @settings(FUZZ, max_examples=SIGNED_EXAMPLES)
    @given(d.signed_body, st.booleans())
    def send_signed(body: bytes, github_prefix: bool) -> None:
        signature = d.hmac_signature(PLAIN_SECRET, body)
        headers = {"X-Signature-256": signature if github_prefix else signature[7:],
                   "Content-Type": "application/json"}
        status, answer = _post(operator.port, f"/hooks/{namespace}/hmac", body, headers)
        signed[status] += 1
        if status >= 500:
            server_errors.append(f"signed {body[:80]!r} -> {status} {answer!r}")
        if _json_object(body):
            assert status == 202, f"signed JSON object {body[:80]!r} answered {status} {answer!r}"
            created.add(json.loads(answer)["task"])

    send_unsigned()
    tasks_after_unsigned = _tasks(api, namespace)
    send_signed()
    tasks_after_signed = _tasks(api, namespace)
    errors = log.errors()
    with capsys.disabled():
        print("\nfuzzed webhook deliveries, by status code:")
        print(f"  unsigned or badly signed: {dict(sorted(unsigned.items()))}")
        print(f"  correctly signed:         {dict(sorted(signed.items()))}")
        print(f"  tasks created: {len(tasks_after_unsigned)} by unsigned, "
              f"{len(tasks_after_signed) - len(tasks_after_unsigned)} by signed; "
              f"operator errors: {len(errors)}")
    assert not server_errors, "\n".join(server_errors[:20])
    assert tasks_after_unsigned == [], f"unsigned deliveries created {tasks_after_unsigned}"
    assert created and set(tasks_after_signed) == created
    assert not operator.exited()
    assert not errors, f"{len(errors)} operator errors:\n" + "\n".join(errors[:20])


def _json_object(body: bytes) -> bool:
    try:
        return isinstance(json.loads(body.decode("utf-8")), dict)
    except (ValueError, RecursionError):
        return False
