"""Removes what a real node leaves on the host: container processes and shims, mounts,
network namespaces, iptables chains, cgroups, the runtime's folders and the sysctls."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from agenttasks.devcluster import hoststate

# Host-wide settings the node changes; put back as they were.
SYSCTLS = ("net/ipv4/ip_forward", "net/ipv4/conf/all/route_localnet")
# Folders the kubelet, containerd and CNI use outside their configured roots.
HOST_DIRS = ("/run/containerd", "/var/lib/cni", "/var/lib/kubelet", "/var/log/pods",
             "/var/log/containers")


def remember_host(folder: Path) -> None:
    """Records the sysctls and which of HOST_DIRS exist, before the node first starts."""
    record = folder / "host.json"
    if record.exists():
        return  # a restart of the node: the first record holds the original state
    state = {"sysctls": {k: _sysctl(k) for k in SYSCTLS},
             "dirs": [d for d in HOST_DIRS if Path(d).exists()]}
    record.write_text(json.dumps(state))


def _sysctl(key: str) -> str | None:
    try:
        return (Path("/proc/sys") / key).read_text().strip()
    except OSError:
        return None


def kill_containers() -> None:
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


def kill_shims() -> None:
    for pid, name in hoststate.our_processes():
        if name == "containerd-shim-runc-v2":
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(
            n == "containerd-shim-runc-v2" for _, n in hoststate.our_processes()):
        time.sleep(0.1)


def unmount_under(*folders: Path) -> None:
    for _attempt in range(3):
        points = [m for m in hoststate.mounts()
                  if any(hoststate.under(m, f) for f in folders)]
        if not points:
            return
        for point in sorted(points, key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True)


def remove_chains() -> None:
    """Deletes the KUBE-*, CNI-* and AGT-* chains (and the rules that jump to them) in every
    table, leaving every other rule as it was."""
    for save, restore in (("iptables-save", "iptables-restore"),
                          ("ip6tables-save", "ip6tables-restore")):
        if shutil.which(save) is None:
            continue
        dump = subprocess.run([save], capture_output=True, text=True).stdout
        kept = [line for line in dump.splitlines() if not ours(line)]
        if len(kept) != len(dump.splitlines()):
            subprocess.run([restore], input="\n".join(kept) + "\n", text=True,
                           capture_output=True)


def ours(rule: str) -> bool:
    words = rule.split()
    if rule.startswith(":"):
        return words[0][1:].startswith(hoststate.CHAIN_PREFIXES)
    if rule.startswith("-A "):
        chain = words[1]
        target = words[words.index("-j") + 1] if "-j" in words else ""
        return chain.startswith(hoststate.CHAIN_PREFIXES) or \
            target.startswith(hoststate.CHAIN_PREFIXES)
    return False


def remove_cgroups() -> None:
    for _attempt in range(20):
        trees = hoststate.kubepods_cgroups()
        if not trees:
            return
        for tree in trees:
            for folder in _folders(tree):  # the tree itself comes last
                with contextlib.suppress(OSError):
                    folder.rmdir()
        time.sleep(0.2)  # a process that was just killed leaves its cgroup a moment later


def restore_host(folder: Path) -> None:
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
