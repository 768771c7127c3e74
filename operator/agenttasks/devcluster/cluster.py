"""`agenttasks cluster up | down | status`: the local control plane's lifecycle."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from agenttasks.devcluster import processes, realnode
from agenttasks.devcluster.build import ensure_built
from agenttasks.devcluster.pki import (
    FRONT_PROXY_CLIENT,
    ensure_client_cert,
    ensure_front_proxy,
    ensure_pki,
    ensure_token,
)
from agenttasks.devcluster.toolchain import COREDNS, ETCD, HELM, KUBERNETES, KWOK, NODE, binary

Say = Callable[[str], None]
# Stopped in reverse order of this list.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
CONTROLLERS = (
    "job", "garbagecollector", "namespace", "serviceaccount", "serviceaccount-token",
    "ttl-after-finished", "deployment", "replicaset", "root-ca-certificate-publisher-controller",
    "resourcequota",
    # The built-in view, edit and admin roles gather the chart's roles for people.
    "clusterrole-aggregation",
)
# With a real node, Services need endpoints.
REAL_NODE_CONTROLLERS = ("endpoint", "endpointslice", "endpointslicemirroring")
NODE_NAME = "kwok-node-0"
STAGES = Path(__file__).with_name("stages.yaml")


class ClusterError(RuntimeError):
    pass


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class LocalCluster:
    """The files of one local cluster, all under one folder (default .cluster/)."""

    root: Path

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    def log(self, component: str) -> Path:
        return self.root / "logs" / f"{component}.log"

    def ports(self) -> dict[str, int]:
        if not self.state_file.exists():
            return {}
        return dict(json.loads(self.state_file.read_text())["ports"])

    def settings(self) -> dict[str, bool]:
        state = json.loads(self.state_file.read_text()) if self.state_file.exists() else {}
        return {k: bool(state.get(k)) for k in ("real_node", "real_by_default", "front_proxy")}

    @property
    def real_node(self) -> bool:
        return self.settings()["real_node"]

    def components(self) -> tuple[str, ...]:
        return COMPONENTS + (realnode.COMPONENTS if self.real_node else ())

    def running(self) -> dict[str, int | None]:
        return {c: processes.running_pid(self.root, c) for c in self.components()}


def up(root: Path, say: Say = _say, build_helm: bool = True, real_node: bool = False,
       real_by_default: bool = False) -> LocalCluster:
    """Builds what is missing, starts every component and waits for a Ready node (two with
    ``real_node``: the simulated one and one that runs real containers). Pods go to the
    simulated node unless they tolerate the real one's taint; with ``real_by_default`` the
    taint is on the simulated node instead, so that every pod runs for real (`make run`).

    A healthy running cluster in ``root`` is reused as it is."""
    cluster = LocalCluster(root.resolve())
    tools = [ETCD, KWOK, KUBERNETES, *([HELM] if build_helm else []),
             *([NODE, COREDNS] if real_node else [])]
    if real_node:
        realnode.preflight(say, cluster.root)
    ensure_built(tools, say)
    # front_proxy: clusters started before the aggregator's flags start again with them.
    wanted = {"real_node": real_node, "real_by_default": real_by_default, "front_proxy": True}
    if cluster.settings() == wanted and all(cluster.running().values()) and _ready(cluster):
        say(f"The local cluster in {cluster.root} is already running.")
        return cluster
    down(cluster.root, say=lambda _m: None)
    cluster.root.mkdir(parents=True, exist_ok=True)
    token = ensure_pki(cluster.pki)
    ports = {name: _free_port() for name in
             ("etcd", "etcd-peer", "apiserver", "controller-manager", "scheduler", "kwok")}
    cluster.state_file.write_text(json.dumps({"ports": ports, **wanted}))
    _write_kubeconfig(cluster, token, ports["apiserver"])
    if real_node:  # read by the API server at its start
        ensure_token(cluster.pki, f"system:node:{realnode.NODE_NAME}", "system:nodes")
        ensure_token(cluster.pki, "system:kube-proxy")
        ensure_token(cluster.pki, "system:coredns")
        ensure_client_cert(cluster.pki, "apiserver-kubelet-client",
                           "/O=system:masters/CN=kube-apiserver-kubelet-client")
    started = time.monotonic()
    try:
        _start_etcd(cluster, ports)
        _wait(lambda: _http_ok(f"http://127.0.0.1:{ports['etcd']}/health"), 30, cluster, "etcd")
        _start_apiserver(cluster, ports)
        _wait(lambda: _ready(cluster), 90, cluster, "kube-apiserver")
        _start_controller_manager(cluster, ports)
        _start_scheduler(cluster, ports)
        _start_kwok(cluster, ports)
        _ensure_node(cluster, tainted=real_by_default)
        _wait(lambda: _node_ready(cluster), 60, cluster, "kwok")
        _wait(lambda: _default_service_account(cluster), 60, cluster, "kube-controller-manager")
        if real_node:
            _start_real_node(cluster, say, tainted=not real_by_default)
    except BaseException:
        down(cluster.root, say=lambda _m: None)
        raise
    say(f"Local cluster ready in {time.monotonic() - started:.1f}s; logs in {cluster.root}/logs/.")
    return cluster


def down(root: Path, say: Say = _say) -> list[str]:
    cluster = LocalCluster(root.resolve())
    stopped = realnode.stop(cluster.root, say) if realnode.node_dir(cluster.root).exists() \
        else []
    stopped += [c for c in reversed(COMPONENTS) if processes.stop(cluster.root, c)]
    say("Stopped: " + (", ".join(stopped) if stopped else "nothing was running") + ".")
    return stopped


def _start_real_node(cluster: LocalCluster, say: Say, tainted: bool) -> None:
    from agenttasks.devcluster import images

    pause = images.pause_archive(say)
    kubectl(cluster, "apply", "-f", "-", stdin=json.dumps(_real_node_rbac()))
    realnode.start(cluster.root, lambda user, groups: _user_kubeconfig(cluster, user, groups),
                   cluster.pki / "ca.crt", say, tainted)
    realnode.load_image(pause)
    realnode.load_image(images.busybox_archive(say))
    _wait(lambda: _node_ready(cluster, realnode.NODE_NAME), 60, cluster, "kubelet")


def _real_node_rbac() -> dict[str, object]:
    """The kubelet's rights (system:node, bound to its user: there is no Node authorizer
    here) and CoreDNS's reads."""
    def binding(name: str, role: str, user: str) -> dict[str, object]:
        return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                            "name": role},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                              "name": user}]}

    dns_role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "agenttasks-coredns"},
                "rules": [{"apiGroups": [""], "resources": ["services", "namespaces", "pods"],
                           "verbs": ["list", "watch"]},
                          {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
                           "verbs": ["list", "watch"]}]}
    return {"apiVersion": "v1", "kind": "List", "items": [
        binding("agenttasks-real-node", "system:node", f"system:node:{realnode.NODE_NAME}"),
        dns_role, binding("agenttasks-coredns", "agenttasks-coredns", "system:coredns")]}


def _user_kubeconfig(cluster: LocalCluster, user: str, groups: str) -> Path:
    token = ensure_token(cluster.pki, user, groups)
    path = cluster.root / f"kubeconfig-{user.replace(':', '-')}"
    _write_kubeconfig(cluster, token, cluster.ports()["apiserver"], path, user)
    return path


def status(root: Path) -> dict[str, object]:
    cluster = LocalCluster(root.resolve())
    running = cluster.running()
    return {
        "components": {c: (f"running (pid {p})" if p else "stopped") for c, p in running.items()},
        "ready": all(running.values()) and _ready(cluster),
        "kubeconfig": str(cluster.kubeconfig),
    }


# --- faults, for the chaos tests ----------------------------------------------------------------

def restart_apiserver(root: Path, extra_flags: Sequence[str] = ()) -> float:
    """Stops the kube-apiserver and starts it again on the same port, with ``extra_flags``
    (such as low in-flight limits), or with the normal flags when none are given. Returns
    the seconds it took until /readyz answered."""
    cluster = LocalCluster(root.resolve())
    ports = cluster.ports()
    if not ports:
        raise ClusterError(f"no local cluster in {cluster.root}")
    started = time.monotonic()
    # A short grace: its graceful shutdown waits out long requests, and a crash is as good.
    processes.stop(cluster.root, "kube-apiserver", grace=2.0)
    _start_apiserver(cluster, ports, extra_flags)
    _wait(lambda: _ready(cluster), 90, cluster, "kube-apiserver")
    return time.monotonic() - started


def _etcd_call(cluster: LocalCluster, path: str, body: dict[str, object]) -> dict[str, object]:
    """One call to etcd's gRPC gateway (JSON over HTTP on the client URL)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{cluster.ports()['etcd']}{path}", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return dict(json.loads(response.read()))


def etcd_revision(root: Path) -> int:
    """etcd's current revision (the API server's resourceVersions are etcd revisions)."""
    cluster = LocalCluster(root.resolve())
    answer = _etcd_call(cluster, "/v3/kv/range", {"key": base64.b64encode(b"\0").decode()})
    header = answer["header"]
    assert isinstance(header, dict)
    return int(header["revision"])


def compact_etcd(root: Path) -> int:
    """Compacts etcd at its current revision, so that every older resourceVersion is gone:
    a watch resumed from one gets 410 Gone once the API server's watch cache cannot serve
    it either. Returns the revision."""
    cluster = LocalCluster(root.resolve())
    revision = etcd_revision(cluster.root)
    _etcd_call(cluster, "/v3/kv/compaction", {"revision": str(revision), "physical": True})
    return revision


# --- components -------------------------------------------------------------------------------

def _start_etcd(cluster: LocalCluster, ports: dict[str, int]) -> None:
    client = f"http://127.0.0.1:{ports['etcd']}"
    peer = f"http://127.0.0.1:{ports['etcd-peer']}"
    processes.start("etcd", [
        str(binary("etcd")), "--name=default", f"--data-dir={cluster.root / 'etcd'}",
        f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=default={peer}", "--unsafe-no-fsync", "--log-level=warn",
    ], cluster.root)


def _start_apiserver(cluster: LocalCluster, ports: dict[str, int],
                     extra_flags: Sequence[str] = ()) -> None:
    pki = cluster.pki
    processes.start("kube-apiserver", [
        str(binary("kube-apiserver")),
        f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
        "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
        f"--secure-port={ports['apiserver']}",
        f"--cert-dir={pki}", f"--tls-cert-file={pki / 'apiserver.crt'}",
        f"--tls-private-key-file={pki / 'apiserver.key'}", f"--client-ca-file={pki / 'ca.crt'}",
        "--service-cluster-ip-range=10.0.0.0/24",
        "--authorization-mode=RBAC", f"--token-auth-file={pki / 'tokens.csv'}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        # Without a node lifecycle controller nothing would lift the not-ready taint.
        "--disable-admission-plugins=TaintNodesByCondition",
        "--allow-privileged=true", "--profiling=false",
        *_aggregator_flags(pki),
        *(_real_node_apiserver_flags(pki) if cluster.real_node else []),
        *extra_flags,
    ], cluster.root)


def _aggregator_flags(pki: Path) -> list[str]:
    """The front proxy, for aggregated APIs (the operator's visibility API): the CA and the
    allowed name its client certificate is checked against, the headers it names the user
    in, and that certificate. With aggregator routing the API server calls a Service's
    endpoints, not its ClusterIP, which nothing routes on a node without kube-proxy."""
    ca, crt, key = ensure_front_proxy(pki)
    return [
        f"--requestheader-client-ca-file={ca}",
        f"--requestheader-allowed-names={FRONT_PROXY_CLIENT}",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={crt}", f"--proxy-client-key-file={key}",
        "--enable-aggregator-routing=true",
    ]


def _real_node_apiserver_flags(pki: Path) -> list[str]:
    """Pods reach the API server through the `kubernetes` Service, which needs an address
    that is not loopback; `kubectl logs` and `exec` reach the kubelet by its InternalIP."""
    return [
        "--bind-address=0.0.0.0", f"--advertise-address={realnode.NODE_IP}",
        "--kubelet-preferred-address-types=InternalIP,Hostname",
        f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
    ]


def _start_controller_manager(cluster: LocalCluster, ports: dict[str, int]) -> None:
    pki = cluster.pki
    controllers = CONTROLLERS + (REAL_NODE_CONTROLLERS if cluster.real_node else ())
    processes.start("kube-controller-manager", [
        str(binary("kube-controller-manager")),
        f"--kubeconfig={cluster.kubeconfig}",
        f"--controllers={','.join(controllers)}",
        f"--service-account-private-key-file={pki / 'sa.key'}",
        f"--root-ca-file={pki / 'ca.crt'}",
        "--leader-elect=false", "--bind-address=127.0.0.1",
        f"--secure-port={ports['controller-manager']}",
        "--kube-api-qps=300", "--kube-api-burst=600", "--concurrent-job-syncs=20",
    ], cluster.root)


def _start_scheduler(cluster: LocalCluster, ports: dict[str, int]) -> None:
    config = cluster.root / "scheduler.yaml"
    config.write_text(yaml.safe_dump({
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "KubeSchedulerConfiguration",
        "clientConnection": {"kubeconfig": str(cluster.kubeconfig), "qps": 300,
                             "burst": 600},
        "leaderElection": {"leaderElect": False},
    }))
    processes.start("kube-scheduler", [
        str(binary("kube-scheduler")), f"--config={config}",
        "--bind-address=127.0.0.1", f"--secure-port={ports['scheduler']}",
    ], cluster.root)


def _start_kwok(cluster: LocalCluster, ports: dict[str, int]) -> None:
    processes.start("kwok", [
        str(binary("kwok")), f"--kubeconfig={cluster.kubeconfig}",
        f"--config={STAGES}", "--manage-all-nodes=false",
        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
        "--node-ip=127.0.0.1", "--cidr=10.244.0.0/16",
        f"--server-address=127.0.0.1:{ports['kwok']}",
    ], cluster.root)


# --- API access through kubectl, so that `cluster up` needs no Python client set-up ------------

def kubectl(cluster: LocalCluster, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [str(binary("kubectl")), f"--kubeconfig={cluster.kubeconfig}", *args],
        input=stdin, capture_output=True, text=True, timeout=60,
    )
    if result.returncode != 0:
        raise ClusterError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


SIMULATED_TAINT = {"key": "agenttasks.io/simulated", "value": "true", "effect": "NoSchedule"}


def _ensure_node(cluster: LocalCluster, tainted: bool = False) -> None:
    node: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE_NAME,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {"type": "kwok", "kubernetes.io/hostname": NODE_NAME,
                       "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"},
        },
    }
    if tainted:  # every pod runs on the real node, unless it tolerates this
        node["spec"] = {"taints": [SIMULATED_TAINT]}
    kubectl(cluster, "apply", "-f", "-", stdin=json.dumps(node))


def _node_ready(cluster: LocalCluster, name: str = NODE_NAME) -> bool:
    try:
        out = kubectl(cluster, "get", "node", name, "-o",
                      "jsonpath={.status.conditions[?(@.type=='Ready')].status}")
    except ClusterError:
        return False
    return out.strip() == "True"


def _default_service_account(cluster: LocalCluster) -> bool:
    try:
        kubectl(cluster, "get", "serviceaccount", "default", "-n", "default")
    except ClusterError:
        return False
    return True


def _ready(cluster: LocalCluster) -> bool:
    if "apiserver" not in cluster.ports() or not cluster.kubeconfig.exists():
        return False
    try:
        with _apiserver_get(cluster, "/readyz", timeout=5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def apiserver_metrics(root: Path) -> str:
    """The kube-apiserver's /metrics text (counters start again at each restart)."""
    with _apiserver_get(LocalCluster(root.resolve()), "/metrics", timeout=30) as response:
        return str(response.read().decode())


def _apiserver_get(cluster: LocalCluster, path: str, timeout: float) -> Any:
    """GET as the admin; the caller closes the response."""
    token = (cluster.pki / "tokens.csv").read_text().split(",", 1)[0]
    context = ssl.create_default_context(cafile=str(cluster.pki / "ca.crt"))
    request = urllib.request.Request(f"https://127.0.0.1:{cluster.ports()['apiserver']}{path}",
                                     headers={"Authorization": f"Bearer {token}"})
    return urllib.request.urlopen(request, context=context, timeout=timeout)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _wait(check: Callable[[], bool], seconds: float, cluster: LocalCluster, component: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        if component in COMPONENTS and processes.exited(cluster.root, component):
            raise ClusterError(
                f"{component} exited during start-up; see {cluster.log(component)}")
        time.sleep(0.3)
    raise ClusterError(
        f"{component} did not become ready within {seconds:.0f}s; see {cluster.log(component)}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_kubeconfig(cluster: LocalCluster, token: str, port: int, path: Path | None = None,
                      user: str = "admin") -> None:
    ca = base64.b64encode((cluster.pki / "ca.crt").read_bytes()).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "agenttasks-local", "cluster": {
            "server": f"https://127.0.0.1:{port}", "certificate-authority-data": ca}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "agenttasks-local",
                      "context": {"cluster": "agenttasks-local", "user": user}}],
        "current-context": "agenttasks-local",
    }
    target = path or cluster.kubeconfig
    target.write_text(yaml.safe_dump(config))
    target.chmod(0o600)
