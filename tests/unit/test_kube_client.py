"""The kube client's own body checks are refusals like the API server's."""

from __future__ import annotations

import asyncio

import pytest
from kubernetes import client

from agenttasks.kube.client import ApiError, Kube


def test_a_body_the_client_refuses_is_an_invalid_api_error() -> None:
    kube = Kube(client.ApiClient(client.Configuration(host="http://127.0.0.1:1")))
    job = {"apiVersion": "batch/v1", "kind": "Job",
           "metadata": {"name": "j", "namespace": "ns"},
           "spec": {"template": {"spec": {"restartPolicy": "Never"}}}}  # no containers
    with pytest.raises(ApiError) as refused:
        asyncio.run(kube.create_job(job))
    assert refused.value.invalid and "containers" in refused.value.message
