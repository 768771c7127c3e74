"""The real Kueue manager as a local process against the test cluster, for test_kueue.py.

Built (optionally) by `agenttasks cluster build --kueue` from tests/cluster/kueue/go.mod, with
its CRDs beside the binary. It runs with the admin kubeconfig, no leader election, only the
batch/Job integration, and its webhooks served on 127.0.0.1 but registered nowhere: the
operator creates its Jobs suspended and labelled already, which is all Kueue's mutating
webhook would do. Its servers use a self-signed certificate made here."""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from agenttasks.api.kueue import KUEUE_GROUP, LABEL_JOB_UID
from agenttasks.devcluster.toolchain import KUEUE

from .harness import ARTIFACTS, Api, free_port, kubectl, wait_for

VERSION = "v1beta2"
FLAVOR = "agenttasks-default"


def kueue_or_skip(kubeconfig: str) -> KueueManager:
    """The running manager; skips the test, saying why, when Kueue is not built here."""
    binary = KUEUE.bin_dir / "kueue"
    if not binary.is_file():
        pytest.skip(f"Kueue is not built ({binary} is missing): run "
                    "`agenttasks cluster build --kueue` (it builds from the Go module proxy)")
    return KueueManager(kubeconfig, KUEUE.bin_dir).start()


def _established(api: Api, name: str) -> bool:
    crd = client.ApiextensionsV1Api(api.client).read_custom_resource_definition(name)
    return any(c.type == "Established" and c.status == "True"
               for c in (crd.status.conditions or []))


class KueueManager:
    def __init__(self, kubeconfig: str, bin_dir: Path) -> None:
        self.kubeconfig, self.bin_dir = kubeconfig, bin_dir
        self.api = Api(kubeconfig)
        self.workdir = ARTIFACTS / "kueue"
        self.proc: subprocess.Popen[bytes] | None = None
        self.health = free_port()

    def start(self) -> KueueManager:
        self.workdir.mkdir(parents=True, exist_ok=True)
        kubectl(self.kubeconfig, "apply", "--server-side", "--force-conflicts",
                "-f", str(self.bin_dir / "bases"))
        for crd in ("workloads", "clusterqueues", "localqueues", "resourceflavors"):
            wait_for(lambda crd=crd: _established(self.api, f"{crd}.{KUEUE_GROUP}"),
                     60, what=f"the {crd} CRD to be established")
        kubectl(self.kubeconfig, "create", "namespace", "kueue-system", check=False)
        certs = self._certificate()
        config = self.workdir / "config.yaml"
        config.write_text(yaml.safe_dump({
            "apiVersion": "config.kueue.x-k8s.io/v1beta2", "kind": "Configuration",
            "namespace": "kueue-system",
            "health": {"healthProbeBindAddress": f"127.0.0.1:{self.health}"},
            "metrics": {"bindAddress": f"127.0.0.1:{free_port()}"},
            "webhook": {"host": "127.0.0.1", "port": free_port(), "certDir": str(certs)},
            "leaderElection": {"leaderElect": False},
            "internalCertManagement": {"enable": False},
            "integrations": {"frameworks": ["batch/job"]},
        }))
        atexit.register(self.stop)
        log = (ARTIFACTS / "kueue.log").open("ab")
        self.proc = subprocess.Popen(
            [str(self.bin_dir / "kueue"), f"--config={config}",
             "--feature-gates=VisibilityOnDemand=false", f"--kubeconfig={self.kubeconfig}"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env={**os.environ, "KUEUE_METRICS_CERT_DIR": str(certs)})
        log.close()
        wait_for(self._ready, 90, interval=0.5, what="Kueue's /readyz")
        return self

    def _certificate(self) -> Path:
        certs = self.workdir / "certs"
        certs.mkdir(exist_ok=True)
        if not (certs / "tls.crt").exists():
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-days", "3650", "-keyout", "tls.key", "-out", "tls.crt",
                            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                           cwd=certs, check=True, capture_output=True)
        return certs

    def _ready(self) -> bool:
        import urllib.request

        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"Kueue exited with {self.proc.returncode}; see "
                                 f"{ARTIFACTS / 'kueue.log'}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health}/readyz",
                                        timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    # --- objects ------------------------------------------------------------------------------
    def queue(self, api: Api, namespace: str, name: str, cpu: str) -> None:
        """A LocalQueue ``name`` in ``namespace``, on a ClusterQueue of its own (named after
        the namespace) with ``cpu`` of quota on one ResourceFlavor."""
        def create(plural: str, body: dict[str, Any], ns: str | None = None) -> None:
            body = {"apiVersion": f"{KUEUE_GROUP}/{VERSION}", **body}
            try:
                if ns is None:
                    api.custom.create_cluster_custom_object(KUEUE_GROUP, VERSION, plural, body)
                else:
                    api.custom.create_namespaced_custom_object(KUEUE_GROUP, VERSION, ns,
                                                               plural, body)
            except ApiException as exc:
                if exc.status != 409:
                    raise

        create("resourceflavors", {"kind": "ResourceFlavor", "metadata": {"name": FLAVOR}})
        create("clusterqueues", {"kind": "ClusterQueue", "metadata": {"name": namespace},
                                 "spec": {"namespaceSelector": {}, "resourceGroups": [{
                                     "coveredResources": ["cpu"],
                                     "flavors": [{"name": FLAVOR, "resources": [
                                         {"name": "cpu", "nominalQuota": cpu}]}]}]}})
        create("localqueues", {"kind": "LocalQueue",
                               "metadata": {"name": name, "namespace": namespace},
                               "spec": {"clusterQueue": namespace}}, namespace)

    def workload(self, api: Api, namespace: str, job_uid: str) -> dict[str, Any] | None:
        """Kueue's Workload of the Job ``job_uid``, if it has made one."""
        items = api.custom.list_namespaced_custom_object(
            KUEUE_GROUP, VERSION, namespace, "workloads",
            label_selector=f"{LABEL_JOB_UID}={job_uid}")["items"]
        return items[0] if items else None

    def condition(self, api: Api, namespace: str, job_uid: str, kind: str) -> str | None:
        """The status of condition ``kind`` of the Job's Workload, if it has one."""
        workload = self.workload(api, namespace, job_uid) or {}
        for condition in (workload.get("status") or {}).get("conditions") or []:
            if condition.get("type") == kind:
                return str(condition.get("status"))
        return None
