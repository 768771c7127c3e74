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
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from agenttasks.devcluster import hostclean, hoststate, nodeconfig, processes
from agenttasks.devcluster.nodeconfig import (
    BRIDGE,
    NODE_IP,
    NODE_NAME,
    PAUSE_IMAGE,
    POD_CIDR,
    STATE,
    TAINT_KEY,
)
from agenttasks.devcluster.toolchain import binary

__all__ = ["NODE_IP", "NODE_NAME", "PAUSE_IMAGE", "STATE", "TAINT_KEY", "RealNodeError"]

Say = Callable[[str], None]
NODE_LABEL = "agenttasks.io/node"
SERVICE_CIDR = "10.0.0.0/24"  # the API server's --service-cluster-ip-range
FENCE_CHAIN = "AGT-NODE-FENCE"
LOCK = STATE / "owner"
COMPONENTS = ("containerd", "kubelet", "kube-proxy", "coredns")
# What the node needs from the host, and the Debian package that has it.
PACKAGES = {
    "containerd": "containerd", "runc": "runc", "/usr/lib/cni/bridge":
    "containernetworking-plugins", "iptables": "iptables", "conntrack": "conntrack",
    "/bin/busybox": "busybox-static",  # the shell image
    "buildah": "buildah", "debootstrap": "debootstrap",  # the images (devcluster/images.py)
}


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


def preflight(say: Say, cluster_root: Path, install: bool = True) -> None:
    """Root, the runtime packages (installed through apt when missing), and no real node of
    another cluster on this machine. Raises with one line that says what is missing."""
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
    if holder is not None and Path(holder) != cluster_root.resolve():
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
          say: Say, tainted: bool = True) -> None:
    """Starts containerd, the kubelet and kube-proxy for the cluster in ``cluster_root``.
    ``kubeconfig_for(user, groups)`` writes a kubeconfig for a user of that cluster."""
    folder = node_dir(cluster_root)
    folder.mkdir(parents=True, exist_ok=True)
    STATE.mkdir(parents=True, exist_ok=True)
    LOCK.write_text(str(cluster_root))
    hostclean.remember_host(folder)
    _bridge_up()
    nodeconfig.write_containerd_config(folder)
    processes.start("containerd", ["containerd", "--config", str(folder / "containerd.toml")],
                    cluster_root)
    _wait(lambda: (STATE / "containerd.sock").exists(), 30, "containerd", cluster_root)
    node_kubeconfig = kubeconfig_for(f"system:node:{NODE_NAME}", "system:nodes")
    proxy_kubeconfig = kubeconfig_for("system:kube-proxy", "")
    nodeconfig.write_kubelet_config(folder, ca, tainted)
    processes.start("kubelet", [
        str(binary("kubelet")), f"--config={folder / 'kubelet.yaml'}",
        f"--kubeconfig={node_kubeconfig}", f"--root-dir={folder / 'kubelet'}",
        f"--cert-dir={folder / 'kubelet-pki'}", f"--hostname-override={NODE_NAME}",
        f"--node-ip={NODE_IP}", f"--node-labels={NODE_LABEL}=real",
    ], cluster_root)
    nodeconfig.write_proxy_config(folder, proxy_kubeconfig)
    processes.start("kube-proxy", [str(binary("kube-proxy")),
                                   f"--config={folder / 'kube-proxy.yaml'}"], cluster_root)
    nodeconfig.write_corefile(folder, kubeconfig_for("system:coredns", ""))
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


# --- stop ---------------------------------------------------------------------------------------

def stop(cluster_root: Path, say: Say) -> list[str]:
    """Stops the node's processes and removes every change it made to the host."""
    folder = node_dir(cluster_root)
    stopped = []
    if processes.stop(cluster_root, "kubelet"):
        stopped.append("kubelet")
    hostclean.kill_containers()
    for name in ("kube-proxy", "coredns"):
        if processes.stop(cluster_root, name):
            stopped.append(name)
    if processes.stop(cluster_root, "containerd"):
        stopped.append("containerd")
    hostclean.kill_shims()
    if not folder.exists():
        return stopped
    hostclean.unmount_under(folder, STATE)
    for name in hoststate.network_namespaces():
        if name.startswith("cni-"):
            with contextlib.suppress(RealNodeError):
                _ip("netns", "delete", name)
    hostclean.remove_chains()
    hostclean.remove_cgroups()
    if BRIDGE in hoststate.links():
        with contextlib.suppress(RealNodeError):
            _ip("link", "delete", BRIDGE)  # its routes go with it
    hostclean.restore_host(folder)
    shutil.rmtree(STATE, ignore_errors=True)
    if stopped:
        say(f"Real node stopped and cleaned up: {', '.join(stopped)}.")
    return stopped


# --- helpers --------------------------------------------------------------------------------

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
