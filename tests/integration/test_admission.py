"""The validating admission webhook, called by the real kube-apiserver over HTTPS on
127.0.0.1, refuses at `kubectl apply` what CEL cannot check."""

from __future__ import annotations

import base64
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from agenttasks.api.meta import GROUP, VERSION

from .harness import Api, Operator, free_port, kubectl, pod_template, wait_for


def _certificates(folder: Path) -> bytes:
    """A CA and a serving certificate for 127.0.0.1; returns the CA bundle."""
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", "ca.key",
            "-out", "ca.crt", "-subj", "/CN=admission-test-ca")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "tls.key", "-out", "tls.csr",
            "-subj", "/CN=127.0.0.1")
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "1", "-extfile", "san.ext", "-out", "tls.crt")
    return (folder / "ca.crt").read_bytes()


@pytest.fixture
def webhook(api: Api, own_ns: str, tmp_path: Path) -> Iterator[str]:
    """An operator serving admission on 127.0.0.1, and a webhook configuration for own_ns."""
    if "127.0.0.1" not in api.client.configuration.host:
        pytest.skip("the API server must reach the operator on 127.0.0.1 (local control plane)")
    ca = _certificates(tmp_path)
    port = free_port()
    operator = Operator(api.operator_kubeconfig, [own_ns], "admission", extra=[
        "--admission-port", str(port), "--admission-cert-dir", str(tmp_path)]).start()
    name = f"agenttasks-test-{uuid.uuid4().hex[:6]}"
    hooks = []
    for plural in ("agenttasks", "agenttaskschedules", "agenttasktriggers"):
        hooks.append({
            "name": f"{plural}.{GROUP}",
            "clientConfig": {"url": f"https://127.0.0.1:{port}/validate-{plural}",
                             "caBundle": base64.b64encode(ca).decode()},
            "rules": [{"apiGroups": [GROUP], "apiVersions": [VERSION],
                       "operations": ["CREATE", "UPDATE"], "resources": [plural]}],
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": own_ns}},
            "failurePolicy": "Fail", "sideEffects": "None", "timeoutSeconds": 5,
            "admissionReviewVersions": ["v1"]})
    registrations = client.AdmissionregistrationV1Api(api.client)
    registrations.create_validating_webhook_configuration(
        {"metadata": {"name": name}, "webhooks": hooks})
    time.sleep(2)  # the API server picks new webhook configurations up asynchronously
    try:
        yield own_ns
    finally:
        registrations.delete_validating_webhook_configuration(name)
        operator.stop()


def apply(api: Api, ns: str, body: dict[str, object]) -> tuple[int, str]:
    result = kubectl(api.kubeconfig, "apply", "-n", ns, "-f", "-",
                     stdin=yaml.safe_dump(body), check=False)
    return result.returncode, result.stderr


def schedule(name: str, cron: str, zone: str = "UTC") -> dict[str, object]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AgentTaskSchedule",
            "metadata": {"name": name},
            "spec": {"schedule": cron, "timeZone": zone,
                     "taskTemplate": {"spec": {"template": pod_template()}}}}


def test_bad_cron_and_zone_are_refused_at_apply(api: Api, webhook: str) -> None:
    code, err = apply(api, webhook, schedule("bad-cron", "61 * * * *"))
    assert code != 0 and "spec.schedule" in err and "denied the request" in err
    code, err = apply(api, webhook, schedule("bad-zone", "0 2 * * *", "Mars/Olympus_Mons"))
    assert code != 0 and "spec.timeZone" in err
    code, err = apply(api, webhook, schedule("good", "0 2 * * *", "America/New_York"))
    assert code == 0, err


def test_dependency_cycle_is_refused_at_apply(api: Api, webhook: str) -> None:
    def task(name: str, deps: list[str]) -> dict[str, object]:
        return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AgentTask",
                "metadata": {"name": name},
                "spec": {"dependsOn": deps, "template": pod_template()}}

    assert apply(api, webhook, task("a", ["b"]))[0] == 0
    wait_for(lambda: api.status(webhook, "a").get("phase"), 20, what="a seen by the operator")
    code, err = apply(api, webhook, task("b", ["a"]))
    assert code != 0 and "cycle" in err and "b -> a -> b" in err


def test_bad_trigger_filter_is_refused_at_apply(api: Api, webhook: str) -> None:
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AgentTaskTrigger",
            "metadata": {"name": "t"},
            "spec": {"secretRef": {"name": "s", "key": "k"}, "filter": "body.action ==",
                     "taskTemplate": {"spec": {"template": pod_template()}}}}
    code, err = apply(api, webhook, body)
    assert code != 0 and "spec.filter" in err
