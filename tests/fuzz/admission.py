"""The operator's admission webhook registered for some namespaces, as in
tests/integration/test_admission.py, so that fuzzed manifests also go through it."""

from __future__ import annotations

import base64
import contextlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from kubernetes import client

from agenttasks.api.meta import GROUP, VERSION
from tests.integration.harness import Api
from tests.integration.test_admission import _certificates


def serving_certificates(folder: Path) -> bytes:
    """tls.crt and tls.key for 127.0.0.1 in ``folder``; returns the CA bundle."""
    return _certificates(folder)


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
