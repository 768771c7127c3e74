"""Test harness: a real cluster, the operator as a subprocess, and small API helpers."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from agenttasks.api.meta import GROUP, LABEL_TASK, VERSION

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
T = TypeVar("T")


def wait_for(check: Callable[[], T | None], timeout: float = 60, interval: float = 0.25,
             what: str = "condition") -> T:
    """Polls ``check`` until it returns something truthy; fails with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def docker_answers() -> bool:
    docker = shutil.which("docker")
    if not docker:
        return False
    return subprocess.run([docker, "info"], capture_output=True, timeout=20).returncode == 0


@contextlib.contextmanager
def provide_cluster(folder: str = ".cluster-test") -> Iterator[str]:
    """Yields a kubeconfig path: AGENTTASKS_TEST_KUBECONFIG, kind, or the local control plane."""
    given = os.environ.get("AGENTTASKS_TEST_KUBECONFIG")
    if given:
        yield given
        return
    if os.environ.get("AGENTTASKS_TEST_CLUSTER") == "kind" and docker_answers():
        from pytest_kind import KindCluster

        kind = KindCluster("agenttasks-test")
        kind.create()
        try:
            yield str(kind.kubeconfig_path)
        finally:
            kind.delete()
        return
    from agenttasks.devcluster import cluster as local

    root = REPO / folder
    local.down(root, say=lambda _m: None)
    shutil.rmtree(root, ignore_errors=True)
    cluster = local.up(root, build_helm=False)
    try:
        yield str(cluster.kubeconfig)
    finally:
        local.down(root)


class Operator:
    """The operator under test, as a real process that can be killed at any moment.
    ``command="receiver"`` runs the split receiver (`agenttasks receiver`) instead."""

    def __init__(self, kubeconfig: str, namespaces: list[str], log_name: str,
                 extra: list[str] | None = None, env: dict[str, str] | None = None,
                 command: str = "operator") -> None:
        self.kubeconfig, self.command = kubeconfig, command
        self.env = env or {}
        self.namespaces = namespaces
        self.extra = extra or []
        self.port = free_port()
        ARTIFACTS.mkdir(exist_ok=True)
        self.log_path = ARTIFACTS / f"{command}-{log_name}.log"
        self.log_name = log_name
        self.proc: subprocess.Popen[bytes] | None = None
        self.profiler: subprocess.Popen[bytes] | None = None

    def start(self) -> Operator:
        atexit.register(self.stop)  # never outlive the test run, whatever fails
        argv = [sys.executable, "-m", "agenttasks", self.command, "--kubeconfig", self.kubeconfig,
                "--http-port", str(self.port), *self.extra]
        for ns in self.namespaces:
            argv += ["-n", ns]
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True,
                                     env={**os.environ, **self.env})
        log.close()
        wait_for(self._healthy, 30, what=f"operator /healthz on port {self.port}")
        self._profile()
        return self

    def _profile(self) -> None:
        """With AGENTTASKS_PROFILE_DIR (the benchmark's BENCH_PROFILE), py-spy samples the
        process until it stops, into <dir>/<command>-<log name>.txt (collapsed stacks)."""
        folder = os.environ.get("AGENTTASKS_PROFILE_DIR")
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not folder or self.proc is None or not Path(spy).exists():
            return
        out = Path(folder) / f"{self.command}-{self.log_name}.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        self.profiler = subprocess.Popen(
            [spy, "record", "--pid", str(self.proc.pid), "--rate", "50", "--format", "raw",
             "--nonblocking", "--output", str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def _stop_profiler(self) -> None:
        if self.profiler is not None and self.profiler.poll() is None:
            self.profiler.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            try:
                self.profiler.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.profiler.kill()

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"operator exited with {self.proc.returncode}; "
                                 f"see {self.log_path}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def ready(self) -> bool:
        """/readyz answers 200: every informer has listed."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def exited(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def kill(self) -> None:
        """SIGKILL: no chance to clean up, as in a node failure."""
        self._stop_profiler()
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        self._stop_profiler()
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


class Api:
    """Small helpers over the kubernetes client, for tests."""

    def __init__(self, kubeconfig: str) -> None:
        self.kubeconfig = kubeconfig
        # What operators under test run with: the chart's ServiceAccount once the session
        # fixture has installed its RBAC (see chart_credentials), never the admin.
        self.operator_kubeconfig = kubeconfig
        # The tests act as a user would, through the kubernetes package's own loader.
        configuration = client.Configuration()
        config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
        configuration.connection_pool_maxsize = 64
        self.client = client.ApiClient(configuration)
        self.core = client.CoreV1Api(self.client)
        self.batch = client.BatchV1Api(self.client)
        self.custom = client.CustomObjectsApi(self.client)

    def create_namespace(self, prefix: str) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        self.core.create_namespace({"metadata": {"name": name}})
        wait_for(lambda: self._has_default_sa(name), 30, what=f"serviceaccount in {name}")
        return name

    def _has_default_sa(self, namespace: str) -> bool:
        try:
            self.core.read_namespaced_service_account("default", namespace)
        except ApiException:
            return False
        return True

    def delete_namespace(self, name: str) -> None:
        with contextlib.suppress(ApiException):
            self.core.delete_namespace(name)

    def create_task(self, namespace: str, manifest: dict[str, Any]) -> dict[str, Any]:
        manifest = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AgentTask", **manifest}
        return dict(self.custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, "agenttasks", manifest))

    def task(self, namespace: str, name: str) -> dict[str, Any]:
        return dict(self.custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, "agenttasks", name))

    def patch_task(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, "agenttasks",
                                                   name, patch)

    def delete_task(self, namespace: str, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, "agenttasks",
                                                    name)

    def status(self, namespace: str, name: str) -> dict[str, Any]:
        return dict(self.task(namespace, name).get("status") or {})

    def wait_phase(self, namespace: str, name: str, phase: str, timeout: float = 60,
                   reason: str | None = None) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            status = self.status(namespace, name)
            if status.get("phase") == phase and (reason is None or status.get("reason") == reason):
                return status
            return None

        return wait_for(check, timeout, what=f"{namespace}/{name} to be {phase}/{reason}")

    def jobs(self, namespace: str, task: str) -> list[Any]:
        items = self.batch.list_namespaced_job(
            namespace, label_selector=f"{LABEL_TASK}={task}").items
        return sorted(items, key=lambda j: j.metadata.name)

    def job_gone(self, namespace: str, name: str) -> bool:
        try:
            self.batch.read_namespaced_job(name, namespace)
        except ApiException as exc:
            return exc.status == 404
        return False

    def events(self, namespace: str, name: str) -> list[Any]:
        return list(self.core.list_namespaced_event(
            namespace, field_selector=f"involvedObject.name={name}").items)

    def wait_event(self, namespace: str, name: str, reason: str, timeout: float = 10) -> None:
        """Events are sent after the status write, in the background: wait a moment."""
        wait_for(lambda: reason in [e.reason for e in self.events(namespace, name)] or None,
                 timeout, what=f"Event {reason} on {namespace}/{name}")


def pod_template(duration: str = "1s", result: str | None = None) -> dict[str, Any]:
    annotations = {"sim.agenttasks.io/duration": duration}
    if result:
        annotations["sim.agenttasks.io/result"] = result
    return {"metadata": {"annotations": annotations},
            "spec": {"containers": [{"name": "agent", "image": "busybox"}]}}


def kubectl(kubeconfig: str, *args: str, stdin: str | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
    """Runs the kubectl built with the control plane (or the one on PATH)."""
    from agenttasks.devcluster.toolchain import binary

    built = binary("kubectl")
    exe = str(built) if built.exists() else (shutil.which("kubectl") or "kubectl")
    result = subprocess.run([exe, f"--kubeconfig={kubeconfig}", *args], input=stdin,
                            capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
    return result


CHART = REPO / "charts" / "agenttask-operator"


OPERATOR_RBAC = ("templates/serviceaccount.yaml", "templates/rbac.yaml")
RECEIVER_RBAC = ("templates/receiver-rbac.yaml",)  # with receiver.split=true


def chart_credentials(api: Api, release: str, namespace: str, *values: str,
                      templates: tuple[str, ...] = OPERATOR_RBAC) -> str:
    """A kubeconfig with the token of the chart's ServiceAccount, after installing exactly
    the chart's ServiceAccount and RBAC objects (rendered by helm with ``values``). An
    operator run with it has the chart's permissions and no others. ``templates``:
    RECEIVER_RBAC for the split receiver's account and rights instead."""
    from agenttasks.devcluster.toolchain import binary

    helm = binary("helm")
    if not helm.exists():
        raise AssertionError(f"{helm} is missing: run `agenttasks cluster build`")
    args = [str(helm), "template", release, str(CHART), "--namespace", namespace,
            *(arg for template in templates for arg in ("--show-only", template))]
    for value in values:
        args += ["--set", value]
    rendered = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    with contextlib.suppress(ApiException):
        api.core.create_namespace({"metadata": {"name": namespace}})
    kubectl(api.kubeconfig, "apply", "-f", "-", stdin=rendered)
    accounts = [d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "ServiceAccount"]
    account = accounts[0]["metadata"]["name"]
    return token_kubeconfig(api, namespace, account, f"kubeconfig-{release}-{account}",
                            6 * 3600)


def account_token(api: Api, namespace: str, account: str, seconds: int = 3600) -> str:
    """A fresh TokenRequest token of ServiceAccount ``account``."""
    return str(api.core.create_namespaced_service_account_token(
        account, namespace, {"spec": {"expirationSeconds": seconds}}).status.token)


def token_kubeconfig(api: Api, namespace: str, account: str, file_name: str,
                     seconds: int) -> str:
    """The admin's kubeconfig with a fresh token of ServiceAccount ``account`` instead."""
    token = account_token(api, namespace, account, seconds)
    config = yaml.safe_load(Path(api.kubeconfig).read_text())
    config["users"] = [{"name": account, "user": {"token": token}}]
    for context in config["contexts"]:
        context["context"]["user"] = account
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / file_name
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return str(path)


def user_credentials(api: Api, namespace: str, account: str,
                     rules: list[dict[str, Any]]) -> str:
    """A kubeconfig for a user of ``namespace`` allowed exactly ``rules`` there: the
    ServiceAccount ``account`` (nothing runs as it), a Role and RoleBinding, and a token."""
    make_user(api, namespace, account, rules)
    return token_kubeconfig(api, namespace, account, f"kubeconfig-{namespace}-{account}", 3600)


def make_user(api: Api, namespace: str, account: str, rules: list[dict[str, Any]]) -> None:
    """ServiceAccount ``account`` in ``namespace`` with a Role of exactly ``rules`` there."""
    api.core.create_namespaced_service_account(namespace, {"metadata": {"name": account}})
    rbac = client.RbacAuthorizationV1Api(api.client)
    rbac.create_namespaced_role(namespace, {"metadata": {"name": account}, "rules": rules})
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": account},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}]})
