"""AgentTaskTrigger: real HTTP to the operator on 127.0.0.1, real tasks in the API server.

Signatures are computed here with the test's own HMAC code, never by the code under test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import socket
import threading
import time
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from agenttasks.api.meta import GROUP, VERSION

from .harness import Api, Operator, pod_template, wait_for

RAW_KEY = b"0123456789abcdef0123456789abcdef"
WHSEC = "whsec_" + base64.b64encode(RAW_KEY).decode()
GITHUB_SECRET = "It's a Secret to Everybody"
BODY = b'{"action": "opened", "pull_request": {"number": 7, "base": {"ref": "main"}}}'


# --- the test's own signing ----------------------------------------------------------------

def standard_headers(body: bytes, msg_id: str, timestamp: int | None = None,
                     key: bytes = RAW_KEY, extra_signature: str | None = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    signature = "v1," + base64.b64encode(mac).decode()
    if extra_signature:
        signature = f"{extra_signature} {signature}"
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature,
            "Content-Type": "application/json"}


def github_headers(body: bytes, delivery: str, secret: str = GITHUB_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Delivery": delivery,
            "X-GitHub-Event": "pull_request", "Content-Type": "application/json"}


# --- cluster objects -------------------------------------------------------------------------

def make_secret(api: Api, ns: str, name: str, key: str, value: str) -> None:
    api.core.create_namespaced_secret(ns, {"metadata": {"name": name},
                                           "stringData": {key: value}})


def make_trigger(api: Api, ns: str, name: str, secret: str = "hook", key: str = "key",
                 **spec: Any) -> None:
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AgentTaskTrigger",
            "metadata": {"name": name},
            "spec": {"secretRef": {"name": secret, "key": key}, **spec,
                     "taskTemplate": {"metadata": {"labels": {"source": "webhook"}},
                                      "spec": {"template": pod_template("1s")}}}}
    api.custom.create_namespaced_custom_object(GROUP, VERSION, ns, "agenttasktriggers", body)


def trigger(api: Api, ns: str, name: str) -> dict[str, Any]:
    return dict(api.custom.get_namespaced_custom_object(GROUP, VERSION, ns,
                                                        "agenttasktriggers", name))


def ready_reason(api: Api, ns: str, name: str) -> str | None:
    conditions = (trigger(api, ns, name).get("status") or {}).get("conditions") or []
    return next((c["reason"] for c in conditions if c["type"] == "Ready"), None)


def tasks_of(api: Api, ns: str, name: str) -> list[str]:
    items = api.custom.list_namespaced_custom_object(
        GROUP, VERSION, ns, "agenttasks", label_selector=f"agenttasks.io/trigger={name}")
    return sorted(t["metadata"]["name"] for t in items["items"])


def post(port: int, path: str, body: bytes, headers: dict[str, str]
         ) -> tuple[int, dict[str, Any], dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        data = json.loads(raw) if raw else {}
        return response.status, data, dict(response.getheaders())
    finally:
        conn.close()


@pytest.fixture
def hooks(api: Api, ns: str, operator: Operator) -> tuple[str, int]:
    """A namespace with a standard-webhooks trigger 'pr' ready, and the operator's port."""
    make_secret(api, ns, "hook", "key", WHSEC)
    make_trigger(api, ns, "pr", params={"PR_NUMBER": "pull_request.number"})
    wait_for(lambda: ready_reason(api, ns, "pr") == "Ready" or None, 20, what="trigger ready")
    return ns, operator.port


def test_valid_delivery_creates_task_with_payload_and_params(api: Api, hooks: tuple[str, int]
                                                             ) -> None:
    ns, port = hooks
    status, data, _ = post(port, f"/hooks/{ns}/pr", BODY, standard_headers(BODY, "msg_1"))
    assert status == 202 and data["namespace"] == ns and data["task"].startswith("pr-")
    task = api.task(ns, data["task"])
    assert task["metadata"]["labels"]["agenttasks.io/trigger"] == "pr"
    assert task["metadata"]["labels"]["source"] == "webhook"
    # A small payload rides in the task: one write in the request path, no ConfigMap.
    assert api.core.list_namespaced_config_map(
        ns, label_selector="agenttasks.io/trigger=pr").items == []
    container = task["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env == {"AGENTTASK_PAYLOAD": "/var/run/agenttasks/payload.json", "PR_NUMBER": "7"}
    api.wait_phase(ns, data["task"], "Completed", 60)
    [job] = api.jobs(ns, data["task"])
    pod = job.spec.template
    assert pod.metadata.annotations["agenttasks.io/payload"].encode() == BODY
    [volume] = [v for v in pod.spec.volumes if v.name == "agenttask-payload"]
    [item] = volume.downward_api.items
    assert (item.path, item.field_ref.field_path) == (
        "payload.json", "metadata.annotations['agenttasks.io/payload']")
    mounts = {m.mount_path for m in pod.spec.containers[0].volume_mounts}
    assert "/var/run/agenttasks" in mounts
    counts = wait_for(lambda: (trigger(api, ns, "pr").get("status") or {}).get(
        "deliveries", {}).get("accepted") and trigger(api, ns, "pr")["status"], 15,
        what="counters flushed")
    assert counts["deliveries"]["accepted"] == 1 and counts["url"] == f"/hooks/{ns}/pr"
    assert "lastTriggeredTime" in counts


def test_a_large_payload_is_a_config_map_owned_by_its_task(api: Api, hooks: tuple[str, int]
                                                           ) -> None:
    ns, port = hooks
    large = json.dumps({"pull_request": {"number": 8}, "blob": "x" * 70_000}).encode()
    status, data, _ = post(port, f"/hooks/{ns}/pr", large, standard_headers(large, "msg_big"))
    assert status == 202, data
    task = api.task(ns, data["task"])
    cm = api.core.read_namespaced_config_map(f"{data['task']}-payload", ns)
    assert cm.data["payload.json"].encode() == large
    assert cm.metadata.owner_references[0].uid == task["metadata"]["uid"]
    api.wait_phase(ns, data["task"], "Completed", 60)
    [job] = api.jobs(ns, data["task"])
    volumes = [v.config_map.name for v in job.spec.template.spec.volumes if v.config_map]
    assert volumes == [f"{data['task']}-payload"]


def test_duplicate_delivery_returns_the_same_task(api: Api, hooks: tuple[str, int]) -> None:
    ns, port = hooks
    headers = standard_headers(BODY, "msg_dup")
    first = post(port, f"/hooks/{ns}/pr", BODY, headers)
    second = post(port, f"/hooks/{ns}/pr", BODY, headers)
    assert first[0] == second[0] == 202 and first[1]["task"] == second[1]["task"]
    assert tasks_of(api, ns, "pr") == [first[1]["task"]]
    wait_for(lambda: (trigger(api, ns, "pr").get("status") or {}).get(
        "deliveries", {}).get("duplicate") == 1 or None, 15, what="duplicate counted")


@pytest.mark.parametrize("case", ["forged", "changed-body", "missing", "wrong-key"])
def test_bad_signatures_are_refused(api: Api, hooks: tuple[str, int], case: str) -> None:
    ns, port = hooks
    headers = standard_headers(BODY, "msg_bad")
    body = BODY
    if case == "forged":
        headers["webhook-signature"] = "v1," + base64.b64encode(b"x" * 32).decode()
    elif case == "changed-body":
        body = BODY.replace(b"7", b"8")
    elif case == "missing":
        del headers["webhook-signature"]
    else:
        headers = standard_headers(BODY, "msg_bad", key=b"another key entirely")
    status, data, _ = post(port, f"/hooks/{ns}/pr", body, headers)
    # 404, as for an unknown trigger: a stranger must not learn that 'pr' exists.
    assert status == 404 and "error" in data
    assert data == post(port, f"/hooks/{ns}/no-such-trigger", body, headers)[1]
    assert WHSEC not in json.dumps(data)
    assert tasks_of(api, ns, "pr") == []


@pytest.mark.parametrize("offset", [-600, 600])
def test_replayed_or_future_timestamp_is_refused(api: Api, hooks: tuple[str, int],
                                                 offset: int) -> None:
    ns, port = hooks
    headers = standard_headers(BODY, "msg_old", timestamp=int(time.time()) + offset)
    status, data, _ = post(port, f"/hooks/{ns}/pr", BODY, headers)
    assert status == 401 and "tolerance" in data["error"]
    assert tasks_of(api, ns, "pr") == []


def test_key_rotation_with_two_signatures(api: Api, hooks: tuple[str, int]) -> None:
    ns, port = hooks
    old = "v1," + base64.b64encode(hmac.new(b"retired key", b"x", hashlib.sha256).digest()
                                   ).decode()
    status, data, _ = post(port, f"/hooks/{ns}/pr", BODY,
                           standard_headers(BODY, "msg_rot", extra_signature=old))
    assert status == 202 and tasks_of(api, ns, "pr") == [data["task"]]


def test_oversize_bodies_are_refused(api: Api, ns: str, operator: Operator) -> None:
    make_secret(api, ns, "hook", "key", WHSEC)
    make_trigger(api, ns, "small", maxPayloadBytes=1000)
    wait_for(lambda: ready_reason(api, ns, "small") == "Ready" or None, 20, what="ready")
    big = b'{"x": "' + b"a" * 5000 + b'"}'
    # Declared honestly: refused on the header, before the body is read.
    status, _, _ = post(operator.port, f"/hooks/{ns}/small", big,
                        standard_headers(big, "msg_big"))
    assert status == 413
    # No Content-Length at all (chunked): refused once the body passes the limit.
    conn = http.client.HTTPConnection("127.0.0.1", operator.port, timeout=30)
    conn.putrequest("POST", f"/hooks/{ns}/small")
    for k, v in standard_headers(big, "msg_chunked").items():
        conn.putheader(k, v)
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    for i in range(0, len(big), 1000):
        chunk = big[i:i + 1000]
        conn.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
    conn.send(b"0\r\n\r\n")
    assert conn.getresponse().status == 413
    conn.close()
    # A lying Content-Length (says 100, sends 5,000): only 100 bytes are the request's body,
    # and they are not what was signed. No task, and the server keeps serving.
    with socket.create_connection(("127.0.0.1", operator.port), timeout=10) as sock:
        head = "".join(f"{k}: {v}\r\n" for k, v in standard_headers(big, "msg_lie").items())
        sock.sendall(f"POST /hooks/{ns}/small HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
                     f"{head}\r\n".encode() + big)
        reply = sock.recv(4096).decode(errors="replace")
    assert reply.split()[1] in ("404", "400", "413")  # 404: not what was signed
    assert tasks_of(api, ns, "small") == []
    ok = b'{"ok": true}'
    assert post(operator.port, f"/hooks/{ns}/small", ok, standard_headers(ok, "m2"))[0] == 202


def test_unknown_trigger_and_unwatched_namespace_are_404(api: Api, hooks: tuple[str, int],
                                                         own_ns: str) -> None:
    ns, port = hooks
    assert post(port, f"/hooks/{ns}/nope", BODY, standard_headers(BODY, "m"))[0] == 404
    make_secret(api, own_ns, "hook", "key", WHSEC)
    make_trigger(api, own_ns, "elsewhere")
    time.sleep(1)
    assert post(port, f"/hooks/{own_ns}/elsewhere", BODY, standard_headers(BODY, "m"))[0] == 404


def test_rate_limit_answers_429_with_retry_after(api: Api, ns: str, operator: Operator) -> None:
    make_secret(api, ns, "hook", "key", WHSEC)
    make_trigger(api, ns, "slow", rateLimit={"perMinute": 2})
    wait_for(lambda: ready_reason(api, ns, "slow") == "Ready" or None, 20, what="ready")
    answers = [post(operator.port, f"/hooks/{ns}/slow", BODY,
                    standard_headers(BODY, f"rl-{i}")) for i in range(3)]
    assert [a[0] for a in answers] == [202, 202, 429]
    assert int(answers[2][2]["Retry-After"]) >= 1
    assert len(tasks_of(api, ns, "slow")) == 2


def test_not_json_is_400(api: Api, hooks: tuple[str, int]) -> None:
    ns, port = hooks
    body = b"action=opened"
    assert post(port, f"/hooks/{ns}/pr", body, standard_headers(body, "m-form"))[0] == 400
    assert tasks_of(api, ns, "pr") == []


def test_filter_decides_whether_a_task_is_created(api: Api, ns: str, operator: Operator
                                                  ) -> None:
    make_secret(api, ns, "hook", "key", WHSEC)
    make_trigger(api, ns, "only-main",
                 filter='body.action == "opened" && body.pull_request.base.ref == "main"')
    wait_for(lambda: ready_reason(api, ns, "only-main") == "Ready" or None, 20, what="ready")
    other = BODY.replace(b'"main"', b'"dev"')
    status, data, _ = post(operator.port, f"/hooks/{ns}/only-main", other,
                           standard_headers(other, "f1"))
    assert (status, data) == (202, {"task": None, "filtered": True})
    status, data, _ = post(operator.port, f"/hooks/{ns}/only-main", BODY,
                           standard_headers(BODY, "f2"))
    assert status == 202 and tasks_of(api, ns, "only-main") == [data["task"]]


def test_missing_secret_is_not_ready_then_recovers(api: Api, ns: str, operator: Operator
                                                   ) -> None:
    make_trigger(api, ns, "nosecret")
    wait_for(lambda: ready_reason(api, ns, "nosecret") == "SecretNotFound" or None, 20,
             what="SecretNotFound")
    api.wait_event(ns, "nosecret", "SecretNotFound")
    headers = standard_headers(BODY, "ms-1")
    assert post(operator.port, f"/hooks/{ns}/nosecret", BODY, headers)[0] == 503
    assert tasks_of(api, ns, "nosecret") == []
    make_secret(api, ns, "hook", "key", WHSEC)
    # The sender retries the same delivery; once the cached miss expires it is accepted.
    answer = wait_for(lambda: (r := post(operator.port, f"/hooks/{ns}/nosecret", BODY,
                                         headers))[0] == 202 and r, 30, interval=1,
                      what="accepted after the Secret appears")
    assert tasks_of(api, ns, "nosecret") == [answer[1]["task"]]
    status_text = json.dumps(trigger(api, ns, "nosecret").get("status"))
    assert WHSEC not in status_text and base64.b64encode(RAW_KEY).decode() not in status_text


def test_github_scheme_and_delivery_id(api: Api, ns: str, operator: Operator) -> None:
    make_secret(api, ns, "gh", "token", GITHUB_SECRET)
    make_trigger(api, ns, "gh", secret="gh", key="token", signature="github")
    wait_for(lambda: ready_reason(api, ns, "gh") == "Ready" or None, 20, what="ready")
    delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    first = post(operator.port, f"/hooks/{ns}/gh", BODY, github_headers(BODY, delivery))
    again = post(operator.port, f"/hooks/{ns}/gh", BODY, github_headers(BODY, delivery))
    forged = post(operator.port, f"/hooks/{ns}/gh", BODY,
                  github_headers(BODY, "other", secret="wrong"))
    assert (first[0], again[0], forged[0]) == (202, 202, 404)
    assert first[1]["task"] == again[1]["task"]
    assert tasks_of(api, ns, "gh") == [first[1]["task"]]


def test_hmac_scheme_dedups_identical_bodies(api: Api, ns: str, operator: Operator) -> None:
    make_secret(api, ns, "plain", "key", "plain-secret")
    make_trigger(api, ns, "crm", secret="plain", signature="hmac-sha256",
                 signatureHeader="X-CRM-Signature")
    wait_for(lambda: ready_reason(api, ns, "crm") == "Ready" or None, 20, what="ready")

    def send(body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        digest = hmac.new(b"plain-secret", body, hashlib.sha256).hexdigest()
        return post(operator.port, f"/hooks/{ns}/crm", body, {"X-CRM-Signature": digest})

    a, b, c = send(b'{"lead": 1}'), send(b'{"lead": 1}'), send(b'{"lead": 2}')
    assert (a[0], b[0], c[0]) == (202, 202, 202)
    assert a[1]["task"] == b[1]["task"] != c[1]["task"]
    assert len(tasks_of(api, ns, "crm")) == 2


def test_api_error_is_503_and_the_retry_creates_exactly_one(api: Api, hooks: tuple[str, int]
                                                            ) -> None:
    ns, port = hooks
    # A quota of zero AgentTasks makes the API server refuse the create.
    api.core.create_namespaced_resource_quota(ns, {
        "metadata": {"name": "no-tasks"},
        "spec": {"hard": {f"count/agenttasks.{GROUP}": "0"}}})
    wait_for(lambda: api.core.read_namespaced_resource_quota("no-tasks", ns).status.hard
             or None, 20, what="quota active")
    headers = standard_headers(BODY, "msg_quota")
    status, _, answer_headers = post(port, f"/hooks/{ns}/pr", BODY, headers)
    assert status == 503 and "Retry-After" in answer_headers
    assert tasks_of(api, ns, "pr") == []
    api.core.delete_namespaced_resource_quota("no-tasks", ns)

    def retried() -> dict[str, Any] | None:
        code, data, _ = post(port, f"/hooks/{ns}/pr", BODY, headers)
        return data if code == 202 else None

    data = wait_for(retried, 30, interval=1, what="the retried delivery accepted")
    assert post(port, f"/hooks/{ns}/pr", BODY, headers)[1]["task"] == data["task"]
    assert tasks_of(api, ns, "pr") == [data["task"]]


def test_apply_refuses_bad_params_and_long_names(api: Api, ns: str) -> None:
    with pytest.raises(ApiException) as bad_env:
        make_trigger(api, ns, "bad-env", params={"not-an-env": "a.b"})
    assert "environment variable" in str(bad_env.value.body)
    with pytest.raises(ApiException) as too_big:
        make_trigger(api, ns, "big", maxPayloadBytes=2 * 1024 * 1024)
    assert "maxPayloadBytes" in str(too_big.value.body)
    with pytest.raises(ApiException) as long_name:
        make_trigger(api, ns, "t" * 41)
    assert "at most 40 characters" in str(long_name.value.body)


# --- issue 17: replays, floods and filters that would run for minutes --------------------------

def test_a_replayed_github_body_under_a_new_delivery_id_creates_no_second_task(
        api: Api, ns: str, operator: Operator) -> None:
    make_secret(api, ns, "gh", "token", GITHUB_SECRET)
    make_trigger(api, ns, "gh", secret="gh", key="token", signature="github")
    wait_for(lambda: ready_reason(api, ns, "gh") == "Ready" or None, 20, what="ready")
    # X-GitHub-Delivery is not signed: an attacker with one captured body can send any id.
    answers = [post(operator.port, f"/hooks/{ns}/gh", BODY, github_headers(BODY, delivery))
               for delivery in ("captured-1", "forged-2", "forged-3")]
    assert [a[0] for a in answers] == [202, 202, 202]
    assert {a[1]["task"] for a in answers} == {answers[0][1]["task"]}
    assert tasks_of(api, ns, "gh") == [answers[0][1]["task"]]
    other = BODY.replace(b"7", b"8")
    fresh = post(operator.port, f"/hooks/{ns}/gh", other, github_headers(other, "new-4"))
    assert fresh[0] == 202 and sorted(tasks_of(api, ns, "gh")) == sorted(
        {answers[0][1]["task"], fresh[1]["task"]})


def test_unsigned_floods_do_not_make_a_signed_delivery_get_429(api: Api, ns: str,
                                                               operator: Operator) -> None:
    make_secret(api, ns, "hook", "key", WHSEC)
    make_trigger(api, ns, "guarded", rateLimit={"perMinute": 2})
    wait_for(lambda: ready_reason(api, ns, "guarded") == "Ready" or None, 20, what="ready")
    flood = [post(operator.port, f"/hooks/{ns}/guarded", BODY,
                  standard_headers(BODY, f"flood-{i}", key=b"not the key"))
             for i in range(30)]
    assert {status for status, _, _ in flood} == {404}
    status, data, _ = post(operator.port, f"/hooks/{ns}/guarded", BODY,
                           standard_headers(BODY, "real-1"))
    assert status == 202 and tasks_of(api, ns, "guarded") == [data["task"]]


def test_a_filter_that_would_run_for_minutes_is_cut_off(api: Api, ns: str,
                                                         operator: Operator) -> None:
    make_secret(api, ns, "hook", "key", WHSEC)
    # Two nested comprehensions over 1,000 items: a million steps, minutes in cel-python.
    make_trigger(api, ns, "slow",
                 filter="body.items.exists(x, body.items.exists(y, x + y < 0))")
    wait_for(lambda: ready_reason(api, ns, "slow") == "Ready" or None, 20, what="ready")
    other_ns = api.create_namespace(ns.rsplit("-", 1)[0])  # also watched by the operator
    body = json.dumps({"items": list(range(1000))}).encode()
    answers: list[tuple[int, dict[str, Any], float]] = []
    stop = threading.Event()

    def send_slow_deliveries() -> None:
        # One after another until the other namespace's task is done: a filter is always
        # running while that task is reconciled.
        while not stop.is_set():
            started = time.monotonic()
            status, data, _ = post(operator.port, f"/hooks/{ns}/slow", body,
                                   standard_headers(body, f"slow-{len(answers)}"))
            answers.append((status, data, time.monotonic() - started))

    sender = threading.Thread(target=send_slow_deliveries)
    try:
        sender.start()
        api.create_task(other_ns, {"metadata": {"name": "unharmed"},
                                   "spec": {"template": pod_template("1s")}})
        health: list[float] = []
        deadline = time.monotonic() + 90
        while api.status(other_ns, "unharmed").get("phase") != "Completed":
            assert time.monotonic() < deadline, "the other namespace's task did not complete"
            health.append(healthz_seconds(operator.port))
        completed_during_filters = sender.is_alive()
        stop.set()
        sender.join(60)
        assert completed_during_filters and not sender.is_alive()
        assert answers and all(status == 422 and "time limit" in data["error"]
                               for status, data, _ in answers), answers
        assert max(seconds for _, _, seconds in answers) < 15  # cut off, not minutes
        assert health and max(health) < 1.0, health
        api.wait_event(ns, "slow", "FilterTimedOut", 20)
        assert tasks_of(api, ns, "slow") == []
        # The killed worker was replaced: the next delivery is filtered as usual.
        small = b'{"items": [1]}'
        assert post(operator.port, f"/hooks/{ns}/slow", small,
                    standard_headers(small, "small-1"))[1] == {"task": None, "filtered": True}
    finally:
        stop.set()
        sender.join(60)
        api.delete_namespace(other_ns)


def healthz_seconds(port: int) -> float:
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200
    finally:
        conn.close()
    return time.monotonic() - started
