"""The split receiver on a real API server: `agenttasks receiver` with exactly the chart's
receiver ServiceAccount and RBAC, and an operator with --no-hooks that takes its delivery
counts. A delivery through the receiver creates its task and payload; the counts reach the
trigger's status, written by the operator only; the operator's own /hooks/ is 404."""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .harness import ARTIFACTS, RECEIVER_RBAC, Api, Operator, chart_credentials, kubectl, wait_for
from .test_triggers import (
    BODY,
    WHSEC,
    make_secret,
    make_trigger,
    post,
    ready_reason,
    standard_headers,
    trigger,
)

pytestmark = pytest.mark.integration
RELEASE, RELEASE_NS = "agenttasks", "agenttasks-system"  # as the suite's chart_credentials
RECEIVER_SA = f"{RELEASE}-agenttask-operator-receiver"
RECEIVER_USER = f"system:serviceaccount:{RELEASE_NS}:{RECEIVER_SA}"
AUDIENCE = "agenttasks-operator"  # the chart's "agenttask-operator.receiverAudience"

# Over the inline bound (64 KiB): its payload is a ConfigMap the receiver creates.
LARGE = json.dumps({"pull_request": {"number": 9}, "blob": "x" * 70_000}).encode()


def _token(api: Api, audience: str) -> str:
    request = {"spec": {"audiences": [audience], "expirationSeconds": 3600}}
    return str(api.core.create_namespaced_service_account_token(
        RECEIVER_SA, RELEASE_NS, request).status.token)


@pytest.fixture
def split(api: Api, own_ns: str) -> Iterator[tuple[Operator, Operator]]:
    """An operator that serves no hooks and a receiver that does, for ``own_ns``."""
    receiver_kubeconfig = chart_credentials(api, RELEASE, RELEASE_NS, "receiver.split=true",
                                            templates=RECEIVER_RBAC)
    token_file = ARTIFACTS / "receiver-operator-token"
    token_file.write_text(_token(api, AUDIENCE))
    token_file.chmod(0o600)
    operator = Operator(api.operator_kubeconfig, [own_ns], "split", extra=[
        "--no-hooks", "--receiver-user", RECEIVER_USER, "--receiver-audience", AUDIENCE])
    operator.start()
    receiver = Operator(receiver_kubeconfig, [own_ns], "split", command="receiver", extra=[
        "--operator-url", f"http://127.0.0.1:{operator.port}",
        "--operator-token-file", str(token_file)])
    try:
        receiver.start()
        wait_for(operator.ready, 60, what="the operator's /readyz")
        wait_for(receiver.ready, 60, what="the receiver's /readyz")
        yield operator, receiver
    finally:
        receiver.stop()
        operator.stop()


def _deliveries(api: Api, ns: str) -> dict[str, Any]:
    return dict((trigger(api, ns, "pr").get("status") or {}).get("deliveries") or {})


def test_a_delivery_through_the_receiver_is_counted_by_the_operator(
        api: Api, own_ns: str, split: tuple[Operator, Operator]) -> None:
    operator, receiver = split
    make_secret(api, own_ns, "hook", "key", WHSEC)
    make_trigger(api, own_ns, "pr", params={"PR_NUMBER": "pull_request.number"})
    wait_for(lambda: ready_reason(api, own_ns, "pr") == "Ready" or None, 30,
             what="the trigger Ready (written by the operator)")

    path = f"/hooks/{own_ns}/pr"

    def delivered() -> dict[str, Any] | None:
        # The receiver hears of the new trigger by its watch: 404 until then.
        # Over the inline bound, so that the receiver's own ConfigMap right is used too.
        status, data, _ = post(receiver.port, path, LARGE, standard_headers(LARGE, "msg_1"))
        return data if status == 202 else None

    data = wait_for(delivered, 30, what="a 202 from the receiver")
    name = data["task"]
    assert api.task(own_ns, name)["spec"]["template"]
    config_map = api.core.read_namespaced_config_map(f"{name}-payload", own_ns)
    assert json.loads(config_map.data["payload.json"]) == json.loads(LARGE)
    again = post(receiver.port, path, LARGE, standard_headers(LARGE, "msg_1"))
    assert again[:2] == (202, data)
    forged = post(receiver.port, path, BODY, standard_headers(BODY, "msg_2", key=b"x" * 32))
    assert forged[0] == 404

    # Counted by the receiver, written by the operator: the one writer of trigger status.
    wait_for(lambda: _deliveries(api, own_ns) == {"accepted": 1, "duplicate": 1,
                                                  "rejected": 1} or None,
             30, what="the receiver's counts in the trigger's status")
    assert (trigger(api, own_ns, "pr")["status"] or {}).get("lastTriggeredTime")

    # The operator parses no webhook bodies: aiohttp's own 404, no route.
    assert _status(f"http://127.0.0.1:{operator.port}{path}", BODY,
                   standard_headers(BODY, "msg_3")) == 404


def test_only_the_receivers_operator_token_may_report_counts(
        api: Api, own_ns: str, split: tuple[Operator, Operator]) -> None:
    operator, _receiver = split
    url = f"http://127.0.0.1:{operator.port}/internal/delivery-counts"
    body = json.dumps({"counts": []}).encode()

    def status(token: str) -> int:
        return _status(url, body, {"Authorization": f"Bearer {token}",
                                   "Content-Type": "application/json"})

    assert status(_token(api, AUDIENCE)) == 200
    # The receiver's own API token: for the API server, not for the operator.
    api_token = _kubeconfig_token(Path(ARTIFACTS / f"kubeconfig-{RELEASE}-{RECEIVER_SA}"))
    assert status(api_token) == 401
    # Another ServiceAccount's token for the operator's audience: not the receiver.
    other = api.core.create_namespaced_service_account_token(
        "default", own_ns, {"spec": {"audiences": [AUDIENCE]}}).status.token
    assert status(other) == 403


def test_the_receiver_may_not_create_jobs_or_list_secrets(
        api: Api, own_ns: str, split: tuple[Operator, Operator]) -> None:
    def may(*what: str) -> bool:
        answer = kubectl(api.kubeconfig, "auth", "can-i", *what, "-n", own_ns,
                         "--as", RECEIVER_USER, check=False)
        return answer.stdout.strip() == "yes"

    assert may("create", "agenttasks.agenttasks.io") and may("get", "secrets")
    for denied in (("create", "jobs.batch"), ("create", "pods"), ("list", "secrets"),
                   ("patch", "agenttasktriggers.agenttasks.io", "--subresource=status"),
                   ("create", "events")):
        assert not may(*denied), denied


def _status(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _kubeconfig_token(path: Path) -> str:
    import yaml

    with contextlib.suppress(KeyError, IndexError, TypeError):
        return str(yaml.safe_load(path.read_text())["users"][0]["user"]["token"])
    raise AssertionError(f"no token in {path}")
