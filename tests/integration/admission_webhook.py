"""The operator's admission webhook, registered with the real kube-apiserver for some
namespaces and served on 127.0.0.1 (test_admission, and the fuzz run's manifests)."""

from __future__ import annotations

import base64
import contextlib
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from agenttasks.api.meta import GROUP, VERSION
from tests.integration.harness import Api, Operator, free_port


def serving_certificates(folder: Path) -> bytes:
    """A CA, and tls.crt and tls.key for 127.0.0.1, in ``folder``; returns the CA bundle."""
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


@contextlib.contextmanager
def registered(api: Api, ca: bytes, port: int, namespaces: list[str]) -> Iterator[None]:
    """A ValidatingWebhookConfiguration sending our kinds in ``namespaces`` to the operator."""
    name = f"agenttasks-fuzz-{uuid.uuid4().hex[:6]}"
    hooks = []
    for plural in ("agenttasks", "agenttaskschedules", "agenttasktriggers"):
        hooks.append({
            "name": f"{plural}.{GROUP}",
            "clientConfig": {"url": f"https://127.0.0.1:{port}/validate-{plural}",
                             "caBundle": base64.b64encode(ca).decode()},
            "rules": [{"apiGroups": [GROUP], "apiVersions": [VERSION],
                       "operations": ["CREATE", "UPDATE"], "resources": [plural]}],
            "namespaceSelector": {"matchExpressions": [{
                "key": "kubernetes.io/metadata.name", "operator": "In",
                "values": namespaces}]},
            "failurePolicy": "Fail", "sideEffects": "None", "timeoutSeconds": 5,
            "admissionReviewVersions": ["v1"]})
    registrations = client.AdmissionregistrationV1Api(api.client)
    registrations.create_validating_webhook_configuration(
        {"metadata": {"name": name}, "webhooks": hooks})
    time.sleep(2)  # the API server picks new webhook configurations up asynchronously
    try:
        yield
    finally:
        registrations.delete_validating_webhook_configuration(name)


@contextlib.contextmanager
def admission_operator(api: Api, namespace: str, folder: Path, log_name: str
                       ) -> Iterator[str]:
    """An operator serving admission for ``namespace`` on 127.0.0.1, registered with the
    API server; yields the namespace. Skips where the API server cannot reach 127.0.0.1."""
    if "127.0.0.1" not in api.client.configuration.host:
        pytest.skip("the API server must reach the operator on 127.0.0.1 (local control plane)")
    ca = serving_certificates(folder)
    port = free_port()
    operator = Operator(api.operator_kubeconfig, [namespace], log_name, extra=[
        "--admission-port", str(port), "--admission-cert-dir", str(folder)]).start()
    try:
        with registered(api, ca, port, [namespace]):
            yield namespace
    finally:
        operator.stop()
