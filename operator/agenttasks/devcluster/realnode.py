"""A real node in the local cluster: containerd and runc run real containers, the kubelet and
kube-proxy (built from the control plane's own go.mod) register it and wire up Services.

Where pods go: the real node is registered with the taint ``agenttasks.io/real-node=true:
NoSchedule`` and the label ``agenttasks.io/node=real``. A pod that should really run
tolerates the taint and selects the label; every other pod (the fast bulk of the tests, the
benchmarks) lands on the simulated kwok node as before.

The network stays on this host: the node's bridge ``agt0`` holds 198.51.100.1/24 (TEST-NET-2,
never routed anywhere), the pods get addresses on it, and the API server, bound to every
address, advertises 198.51.100.1 so that the ``kubernetes`` Service reaches it from pods
(loopback would be refused there).

Only one real node runs per machine (iptables, the kubelet's ports and the cgroup tree are
host-wide): a lock file names the cluster that holds it. `stop` removes every host change:
processes, mounts, network namespaces, the bridge, iptables chains, cgroups, the runtime's
files, and the sysctls as they were.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from agenttasks.devcluster import hoststate, processes
from agenttasks.devcluster.toolchain import binary

Say = Callable[[str], None]
NODE_NAME = "agenttasks-node"
NODE_LABEL = "agenttasks.io/node"
TAINT_KEY = "agenttasks.io/real-node"
BRIDGE = "agt0"
NODE_IP = "198.51.100.1"
POD_CIDR = "198.51.100.0/24"
SERVICE_CIDR = "10.0.0.0/24"  # the API server's --service-cluster-ip-range
FENCE_CHAIN = "AGT-NODE-FENCE"
STATE = Path("/run/agenttasks-node")  # short: unix socket paths are limited to 108 bytes
LOCK = STATE / "owner"
COMPONENTS = ("containerd", "kubelet", "kube-proxy", "coredns")
PAUSE_IMAGE = "agenttasks.local/pause:3.10"
# What the node needs from the host, and the Debian package that has it.
PACKAGES = {
    "containerd": "containerd", "runc": "runc", "/usr/lib/cni/bridge":
    "containernetworking-plugins", "iptables": "iptables", "conntrack": "conntrack",
    "/bin/busybox": "busybox-static",  # the shell image of the tests
    "buildah": "buildah", "debootstrap": "debootstrap",  # the images (devcluster/images.py)
}
# Host-wide settings the node changes; put back as they were at `stop`.
SYSCTLS = ("net/ipv4/ip_forward", "net/ipv4/conf/all/route_localnet")
# Folders the kubelet, containerd and CNI use outside their configured roots.
HOST_DIRS = ("/run/containerd", "/var/lib/cni", "/var/lib/kubelet", "/var/log/pods",
             "/var/log/containers")


class RealNodeError(RuntimeError):
    pass


def node_dir(cluster_root: Path) -> Path:
    return cluster_root / "node"


# --- before anything starts ---------------------------------------------------------------------

def missing_packages() -> list[str]:
    found = []
    for need, package in PACKAGES.items():
        present = Path(need).exists() if need.startswith("/") else shutil.which(need)
        if not present:
            found.append(package)
    return sorted(set(found))


def preflight(say: Say, install: bool = True) -> None:
    """Root, the runtime packages (installed through apt when missing), and no other real
    node on this machine. Raises with one line that says what is missing."""
    if os.geteuid() != 0:
        raise RealNodeError("a real node needs root (containerd, the kubelet and iptables)")
    missing = missing_packages()
    if missing and install and shutil.which("apt-get"):
        say(f"Installing for the real node (apt-get): {' '.join(missing)}")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for argv in (["apt-get", "update", "-qq"],
                     ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]):
            result = subprocess.run(argv, capture_output=True, text=True, env=env)
            if result.returncode != 0:
                raise RealNodeError(f"`{' '.join(argv)}` failed: {result.stderr.strip()[-300:]}")
        missing = missing_packages()
    if missing:
        raise RealNodeError(f"a real node needs these Debian packages: {' '.join(missing)}")
    holder = lock_holder()
    if holder is not None:
        raise RealNodeError(f"the real node of this machine is held by the cluster in {holder};"
                            f" stop it first (agenttasks cluster down --dir {holder})")


def lock_holder() -> str | None:
    """The cluster folder that runs this machine's real node, if its kubelet still runs."""
    if not LOCK.exists():
        return None
    holder = LOCK.read_text().strip()
    if holder and processes.running_pid(Path(holder), "kubelet"):
        return holder
    return None


# --- start --------------------------------------------------------------------------------------

def start(cluster_root: Path, kubeconfig_for: Callable[[str, str], Path], ca: Path,
          say: Say) -> None:
    """Starts containerd, the kubelet and kube-proxy for the cluster in ``cluster_root``.
    ``kubeconfig_for(user, groups)`` writes a kubeconfig for a user of that cluster."""
    folder = node_dir(cluster_root)
    folder.mkdir(parents=True, exist_ok=True)
    STATE.mkdir(parents=True, exist_ok=True)
    LOCK.write_text(str(cluster_root))
    _remember_host(folder)
    _bridge_up()
    _write_containerd_config(folder)
    processes.start("containerd", ["containerd", "--config", str(folder / "containerd.toml")],
                    cluster_root)
    _wait(lambda: (STATE / "containerd.sock").exists(), 30, "containerd", cluster_root)
    node_kubeconfig = kubeconfig_for(f"system:node:{NODE_NAME}", "system:nodes")
    proxy_kubeconfig = kubeconfig_for("system:kube-proxy", "")
    _write_kubelet_config(folder, ca)
    processes.start("kubelet", [
        str(binary("kubelet")), f"--config={folder / 'kubelet.yaml'}",
        f"--kubeconfig={node_kubeconfig}", f"--root-dir={folder / 'kubelet'}",
        f"--cert-dir={folder / 'kubelet-pki'}", f"--hostname-override={NODE_NAME}",
        f"--node-ip={NODE_IP}", f"--node-labels={NODE_LABEL}=real",
    ], cluster_root)
    _write_proxy_config(folder, proxy_kubeconfig)
    processes.start("kube-proxy", [str(binary("kube-proxy")),
                                   f"--config={folder / 'kube-proxy.yaml'}"], cluster_root)
    _write_corefile(folder, kubeconfig_for("system:coredns", ""))
    processes.start("coredns", [str(binary("coredns")), "-conf", str(folder / "Corefile")],
                    cluster_root)
    say(f"Real node {NODE_NAME} started (containerd, kubelet, kube-proxy, coredns); "
        f"logs in {cluster_root}/logs/.")


def load_image(archive: Path) -> None:
    """Imports an image archive (OCI or docker) into the node's runtime; nothing is pulled."""
    ctr(["images", "import", "--all-platforms", str(archive)])


def ctr(args: list[str]) -> str:
    result = subprocess.run(["ctr", "--address", str(STATE / "containerd.sock"),
                             "--namespace", "k8s.io", *args], capture_output=True, text=True,
                            timeout=300)
    if result.returncode != 0:
        raise RealNodeError(f"ctr {' '.join(args)} failed: {result.stderr.strip()[-300:]}")
    return result.stdout


def _remember_host(folder: Path) -> None:
    record = folder / "host.json"
    if record.exists():
        return  # a restart of the node: the first record holds the original state
    state = {"sysctls": {k: _sysctl(k) for k in SYSCTLS},
             "dirs": [d for d in HOST_DIRS if Path(d).exists()]}
    record.write_text(json.dumps(state))


def _bridge_up() -> None:
    if BRIDGE not in hoststate.links():
        _ip("link", "add", BRIDGE, "type", "bridge")
    with contextlib.suppress(RealNodeError):  # already there after a restart
        _ip("addr", "add", f"{NODE_IP}/24", "dev", BRIDGE)
    _ip("link", "set", BRIDGE, "up")
    _fence()


def _fence() -> None:
    """Nothing of the cluster's leaves this host. Service addresses are routed to the bridge,
    so a Service that kube-proxy has not programmed yet goes nowhere instead of out of the
    default route; and pods may reach only the bridge and this host, never forward out."""
    with contextlib.suppress(RealNodeError):
        _ip("route", "replace", SERVICE_CIDR, "dev", BRIDGE)
    subprocess.run(["iptables", "-N", FENCE_CHAIN], capture_output=True)
    subprocess.run(["iptables", "-F", FENCE_CHAIN], capture_output=True, check=True)
    subprocess.run(["iptables", "-A", FENCE_CHAIN, "-s", POD_CIDR, "!", "-o", BRIDGE,
                    "-j", "DROP"], capture_output=True, check=True)
    if subprocess.run(["iptables", "-C", "FORWARD", "-j", FENCE_CHAIN],
                      capture_output=True).returncode != 0:
        subprocess.run(["iptables", "-I", "FORWARD", "1", "-j", FENCE_CHAIN],
                       capture_output=True, check=True)


def _write_containerd_config(folder: Path) -> None:
    cni = folder / "cni"
    (cni / "net.d").mkdir(parents=True, exist_ok=True)
    (cni / "net.d" / "10-agenttasks.conflist").write_text(json.dumps({
        "cniVersion": "0.4.0", "name": "agenttasks", "plugins": [
            {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False,
             "hairpinMode": True, "ipam": {
                 "type": "host-local", "ranges": [[{"subnet": POD_CIDR, "gateway": NODE_IP}]],
                 "routes": [{"dst": "0.0.0.0/0"}], "dataDir": str(cni / "ipam")}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ]}, indent=2))
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    (folder / "containerd.toml").write_text(f'''version = 2
root = "{folder / 'containerd'}"
state = "{STATE / 'containerd'}"
[grpc]
  address = "{STATE / 'containerd.sock'}"
[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  # Root here lacks CAP_SYS_RESOURCE: without this every pod sandbox fails
  # ("can't get final child's PID from pipe: EOF").
  restrict_oom_score_adj = true
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
  [{cri}.cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{cni / 'net.d'}"
''')


def _write_kubelet_config(folder: Path, ca: Path) -> None:
    config: dict[str, Any] = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
        "cgroupDriver": "cgroupfs", "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{STATE / 'containerd.sock'}",
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                           "x509": {"clientCAFile": str(ca)}},
        "authorization": {"mode": "Webhook"},
        "address": NODE_IP, "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "podLogsDir": str(folder / "pod-logs"),
        "registerWithTaints": [{"key": TAINT_KEY, "value": "true", "effect": "NoSchedule"}],
        # A build machine's disk is shared and often fuller than a node's: never evict.
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%",
                         "imagefs.available": "1%", "nodefs.inodesFree": "1%"},
        "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
        "serializeImagePulls": False, "localStorageCapacityIsolation": False,
        "resolvConf": "/etc/resolv.conf", "clusterDomain": "cluster.local",
        "clusterDNS": [NODE_IP],
    }
    (folder / "kubelet.yaml").write_text(yaml.safe_dump(config))


def _write_corefile(folder: Path, kubeconfig: Path) -> None:
    """Cluster DNS on the node's address: Service and pod names of cluster.local only (there
    is nothing upstream to forward to)."""
    (folder / "Corefile").write_text(f"""\
.:53 {{
    bind {NODE_IP}
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig} agenttasks-local
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
}}
""")


def _write_proxy_config(folder: Path, kubeconfig: Path) -> None:
    (folder / "kube-proxy.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)}, "mode": "iptables",
        "clusterCIDR": POD_CIDR, "bindAddress": NODE_IP, "hostnameOverride": NODE_NAME,
        "healthzBindAddress": "127.0.0.1:10256", "metricsBindAddress": "127.0.0.1:10249",
        "conntrack": {"maxPerCore": 0},  # leave the host's conntrack table size alone
    }))


# --- stop ---------------------------------------------------------------------------------------

def stop(cluster_root: Path, say: Say) -> list[str]:
    """Stops the node's processes and removes every change it made to the host."""
    folder = node_dir(cluster_root)
    stopped = []
    if processes.stop(cluster_root, "kubelet"):
        stopped.append("kubelet")
    _kill_containers()
    for name in ("kube-proxy", "coredns"):
        if processes.stop(cluster_root, name):
            stopped.append(name)
    if processes.stop(cluster_root, "containerd"):
        stopped.append("containerd")
    _kill_shims()
    if not folder.exists():
        return stopped
    _unmount_under(folder, STATE)
    for name in hoststate.network_namespaces():
        if name.startswith("cni-"):
            with contextlib.suppress(RealNodeError):
                _ip("netns", "delete", name)
    _remove_chains()
    _remove_cgroups()
    if BRIDGE in hoststate.links():
        with contextlib.suppress(RealNodeError):
            _ip("link", "delete", BRIDGE)  # its routes go with it
    _restore_host(folder)
    shutil.rmtree(STATE, ignore_errors=True)
    if stopped:
        say(f"Real node stopped and cleaned up: {', '.join(stopped)}.")
    return stopped


def _kill_containers() -> None:
    """Every process in the kubelet's cgroups (the containers), then the pods' shims."""
    for cgroup in hoststate.kubepods_cgroups():
        for folder in _folders(cgroup):
            with contextlib.suppress(OSError):
                for pid in (folder / "cgroup.procs").read_text().split():
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(int(pid), signal.SIGKILL)


def _folders(tree: Path) -> list[Path]:
    """Every folder under ``tree``, deepest first; folders that vanish meanwhile are skipped
    (a cgroup goes away as its last process exits)."""
    found = [Path(top) for top, _dirs, _files in os.walk(tree, onerror=lambda _e: None)]
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def _kill_shims() -> None:
    for pid, name in hoststate.our_processes():
        if name == "containerd-shim-runc-v2":
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(
            n == "containerd-shim-runc-v2" for _, n in hoststate.our_processes()):
        time.sleep(0.1)


def _unmount_under(*folders: Path) -> None:
    for _attempt in range(3):
        points = [m for m in hoststate.mounts()
                  if any(hoststate._under(m, f) for f in folders)]
        if not points:
            return
        for point in sorted(points, key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True)


def _remove_chains() -> None:
    """Deletes the KUBE-*, CNI-* and AGT-* chains (and the rules that jump to them) in every
    table, leaving every other rule as it was."""
    for save, restore in (("iptables-save", "iptables-restore"),
                          ("ip6tables-save", "ip6tables-restore")):
        if shutil.which(save) is None:
            continue
        dump = subprocess.run([save], capture_output=True, text=True).stdout
        kept = [line for line in dump.splitlines() if not _ours(line)]
        if len(kept) != len(dump.splitlines()):
            subprocess.run([restore], input="\n".join(kept) + "\n", text=True,
                           capture_output=True)


def _ours(rule: str) -> bool:
    words = rule.split()
    if rule.startswith(":"):
        return words[0][1:].startswith(hoststate.CHAIN_PREFIXES)
    if rule.startswith("-A "):
        chain = words[1]
        target = words[words.index("-j") + 1] if "-j" in words else ""
        return chain.startswith(hoststate.CHAIN_PREFIXES) or \
            target.startswith(hoststate.CHAIN_PREFIXES)
    return False


def _remove_cgroups() -> None:
    for _attempt in range(20):
        trees = hoststate.kubepods_cgroups()
        if not trees:
            return
        for tree in trees:
            for folder in _folders(tree):  # the tree itself comes last
                with contextlib.suppress(OSError):
                    folder.rmdir()
        time.sleep(0.2)  # a process that was just killed leaves its cgroup a moment later


def _restore_host(folder: Path) -> None:
    record = folder / "host.json"
    if not record.exists():
        return
    state = json.loads(record.read_text())
    for key, value in state["sysctls"].items():
        if value is not None:
            with contextlib.suppress(OSError):
                (Path("/proc/sys") / key).write_text(value)
    for path in HOST_DIRS:
        if path not in state["dirs"]:
            shutil.rmtree(path, ignore_errors=True)
    record.unlink()


# --- helpers --------------------------------------------------------------------------------

def _sysctl(key: str) -> str | None:
    try:
        return (Path("/proc/sys") / key).read_text().strip()
    except OSError:
        return None


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RealNodeError(f"ip {' '.join(args)}: {result.stderr.strip()}")


def _wait(check: Callable[[], bool], seconds: float, component: str, root: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        if processes.exited(root, component):
            raise RealNodeError(f"{component} exited during start-up; see {root}/logs/")
        time.sleep(0.2)
    raise RealNodeError(f"{component} did not start within {seconds:.0f}s; see {root}/logs/")
