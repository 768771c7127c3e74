"""What a real node leaves on the host, read from /proc, /sys and the ip and iptables
commands: used by `cluster down` to remove it, and by a test to prove nothing is left."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
NETNS_DIR = Path("/run/netns")
CHAIN_PREFIXES = ("KUBE-", "CNI-", "AGT-")
CHAIN = re.compile(r"^:((?:KUBE|CNI|AGT)-[A-Za-z0-9_-]+) ", re.MULTILINE)
OUR_PROCESSES = ("containerd", "containerd-shim-runc-v2", "kubelet", "kube-proxy", "coredns")


@dataclass(frozen=True)
class HostState:
    """The kinds of thing a node puts on a host, each as a sorted tuple of names."""

    processes: tuple[str, ...]
    mounts: tuple[str, ...]
    netns: tuple[str, ...]
    links: tuple[str, ...]
    routes: tuple[str, ...]
    chains: tuple[str, ...]
    cgroups: tuple[str, ...]

    def left_behind(self, before: HostState) -> dict[str, list[str]]:
        """What is here now and was not ``before``, by kind (empty when clean)."""
        found = {}
        for kind in ("processes", "mounts", "netns", "links", "routes", "chains", "cgroups"):
            extra = sorted(set(getattr(self, kind)) - set(getattr(before, kind)))
            if extra:
                found[kind] = extra
        return found


def read(owned: tuple[Path, ...]) -> HostState:
    """The host as it is now; mounts count when they lie under one of ``owned``."""
    return HostState(
        processes=tuple(sorted(f"{name}[{pid}]" for pid, name in our_processes())),
        mounts=tuple(sorted(m for m in mounts() if any(under(m, o) for o in owned))),
        netns=tuple(sorted(network_namespaces())),
        links=tuple(sorted(links())),
    routes=tuple(sorted(routes())),
        chains=tuple(sorted(chains())),
        cgroups=tuple(sorted(str(c) for c in kubepods_cgroups())),
    )


def our_processes() -> list[tuple[int, str]]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv0 = (entry / "cmdline").read_bytes().split(b"\0")[0].decode()
        except OSError:
            continue
        name = os.path.basename(argv0)
        if name in OUR_PROCESSES:
            found.append((int(entry.name), name))
    return found


def mounts() -> list[str]:
    points = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) > 1:
            points.append(fields[1].replace("\\040", " "))
    return points


def network_namespaces() -> list[str]:
    return sorted(p.name for p in NETNS_DIR.iterdir()) if NETNS_DIR.is_dir() else []


def links() -> list[str]:
    """Interface names of the kinds a node makes: its bridge and the pods' veth ends."""
    out = _run(["ip", "-o", "link", "show"])
    names = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]
    return [n for n in names if n.startswith(("agt", "veth", "cni", "kube-"))]


def routes() -> list[str]:
    """Every route of the main table, as `ip route` prints it."""
    return [line.strip() for line in _run(["ip", "route", "show"]).splitlines() if line.strip()]


def chains() -> list[str]:
    """KUBE-*, CNI-* and AGT-* chains in every table of iptables and ip6tables."""
    found = []
    for tool in ("iptables-save", "ip6tables-save"):
        if shutil.which(tool) is None:
            continue
        table = ""
        for line in _run([tool]).splitlines():
            if line.startswith("*"):
                table = line[1:]
            match = CHAIN.match(line)
            if match:
                found.append(f"{tool.split('-')[0]}/{table}/{match.group(1)}")
    return found


def kubepods_cgroups() -> list[Path]:
    """The kubelet's cgroup trees (kubepods) under every cgroup v1 controller or v2."""
    found: list[Path] = []
    if not CGROUP_ROOT.is_dir():
        return found
    for controller in [CGROUP_ROOT, *CGROUP_ROOT.iterdir()]:
        with contextlib.suppress(OSError):
            found += [p for p in controller.iterdir() if p.name.startswith("kubepods")]
    return found


def under(path: str, folder: Path) -> bool:
    return path == str(folder) or path.startswith(str(folder).rstrip("/") + "/")


def _run(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
