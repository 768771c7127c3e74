"""Which Go tools make up the local control plane, and how each is built.

The versions are pinned in one place only: the go.mod of each tool under
``tests/cluster/<tool>/``. This module reads them from there.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
GO_TOOLS_DIR = Path(os.environ.get("AGENTTASKS_GO_TOOLS_DIR", REPO_ROOT / "tests" / "cluster"))


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "agenttasks" / "bin"


@dataclass(frozen=True)
class Binary:
    """One executable: the file name it gets in the cache, and the Go package it is built from.

    The name is explicit because Go's own rule would name ``go.etcd.io/etcd/server/v3`` after
    ``server`` (the element before a major-version suffix), not ``etcd``.
    """

    name: str
    package: str


@dataclass(frozen=True)
class SourcePatch:
    """One literal replaced in one file of a module's main package, for the build only. Go
    refuses -overlay over the module cache, so the build copies that package (its .go
    files) into a scratch copy of the tool's go.mod folder, patches it there and builds it
    from there, with the same go.mod and go.sum: every other package is the module's own.
    A patch whose literal is not found fails the build, so a version bump cannot silently
    drop it."""

    file: str
    """The file, relative to the module's root, in the package of one of its binaries."""
    old: str
    new: str

    @property
    def package_dir(self) -> str:
        return self.file.rsplit("/", 1)[0]


@dataclass(frozen=True)
class GoTool:
    """One go.mod under tests/cluster, built into one cache folder."""

    name: str
    module: str
    builds: tuple[Binary, ...]
    gomod: str = ""
    """The folder of its go.mod under tests/cluster, when another tool's (default: name)."""
    patches: tuple[SourcePatch, ...] = ()
    copies: tuple[str, ...] = ()
    """Folders of the module's source copied next to the binaries (for example CRDs)."""

    @property
    def binaries(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.builds)

    @property
    def gomod_dir(self) -> Path:
        return GO_TOOLS_DIR / (self.gomod or self.name)

    @property
    def version(self) -> str:
        return required_version(self.gomod_dir / "go.mod", self.module)

    @property
    def bin_dir(self) -> Path:
        return cache_root() / f"{self.name}-{self.version}"

    def ldflags(self) -> str:
        return " ".join(["-s", "-w", *_version_ldflags(self)])

    def missing(self) -> list[str]:
        return [b for b in self.binaries if not (self.bin_dir / b).is_file()]

    def build_commands(self, go: str, out_dir: Path) -> list[list[str]]:
        """One ``go build -o <out_dir>/<name> <package>`` per binary, so no name is Go's guess.
        A patched package is built from its copy (``./<dir>``, see SourcePatch)."""
        flags = ["build", "-trimpath", "-ldflags", self.ldflags()]
        return [[go, *flags, "-o", str(out_dir / b.name), self._package(b)] for b in self.builds]

    def _package(self, binary: Binary) -> str:
        for patch in self.patches:
            if binary.package == f"{self.module}/{patch.package_dir}":
                return f"./{patch.package_dir}"
        return binary.package


def required_version(gomod: Path, module: str) -> str:
    """The version of ``module`` that ``gomod`` requires directly."""
    text = gomod.read_text()
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", text, re.MULTILINE)
    if not match:
        raise RuntimeError(f"{gomod} does not require {module}")
    return match.group(1)


def _semver_parts(version: str) -> tuple[str, str]:
    major, minor = version.lstrip("v").split(".")[:2]
    return major, minor


def _version_ldflags(tool: GoTool) -> list[str]:
    # Without these, /version says v0.0.0-master and helm assumes Kubernetes 1.20.
    if tool.module == "k8s.io/kubernetes":
        major, minor = _semver_parts(tool.version)
        flags = []
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
            flags += [
                f"-X {pkg}.gitVersion={tool.version}",
                f"-X {pkg}.gitMajor={major}",
                f"-X {pkg}.gitMinor={minor}",
                f"-X {pkg}.gitCommit={'0' * 40}",
                f"-X {pkg}.gitTreeState=clean",
            ]
        return flags
    if tool.name == "helm":
        major, minor = _semver_parts(KUBERNETES.version)
        return [
            f"-X helm.sh/helm/v3/internal/version.version={tool.version}",
            f"-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor={major}",
            f"-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor={minor}",
            f"-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor={major}",
            f"-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor={minor}",
        ]
    return []


ETCD = GoTool(
    "etcd", "go.etcd.io/etcd/server/v3", (Binary("etcd", "go.etcd.io/etcd/server/v3"),)
)
KWOK = GoTool("kwok", "sigs.k8s.io/kwok", (Binary("kwok", "sigs.k8s.io/kwok/cmd/kwok"),))
HELM = GoTool("helm", "helm.sh/helm/v3", (Binary("helm", "helm.sh/helm/v3/cmd/helm"),))
_K8S_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
KUBERNETES = GoTool(
    "kubernetes",
    "k8s.io/kubernetes",
    tuple(Binary(c, f"k8s.io/kubernetes/cmd/{c}") for c in _K8S_COMMANDS),
)

# The real node's binaries: built from the same go.mod as the control plane, and only when a
# cluster asks for a real node (`agenttasks cluster up --real-node`).
NODE = GoTool(
    "kubernetes-node",
    "k8s.io/kubernetes",
    tuple(Binary(c, f"k8s.io/kubernetes/cmd/{c}") for c in ("kubelet", "kube-proxy")),
    gomod="kubernetes",
)

# Cluster DNS for the real node's pods (the chart's Service URLs are names).
COREDNS = GoTool("coredns", "github.com/coredns/coredns",
                 (Binary("coredns", "github.com/coredns/coredns"),))

# Kueue's manager, for the Kueue integration tests: built when asked for (`agenttasks cluster
# build --kueue`, which `make test` runs, so CI runs the real-Kueue test), never by `cluster
# up`, which does not need it. Its CRDs come with it. Its one
# patch, to its main.go: the manager reads its metrics server's certificate from a fixed
# /etc/kueue path unless it manages certificates in-cluster (which needs its webhook Service
# and webhook configurations); the path comes from KUEUE_METRICS_CERT_DIR instead, so a
# local process needs nothing in /etc.
KUEUE = GoTool(
    "kueue", "sigs.k8s.io/kueue", (Binary("kueue", "sigs.k8s.io/kueue/cmd/kueue"),),
    patches=(SourcePatch("cmd/kueue/main.go", 'metricsCertPath := "/etc/kueue/metrics/certs"',
                         'metricsCertPath := os.Getenv("KUEUE_METRICS_CERT_DIR")'),),
    copies=("config/components/crd/bases",),
)

ALL_TOOLS = (ETCD, KWOK, KUBERNETES, HELM, NODE, COREDNS)
CONTROL_PLANE = (ETCD, KWOK, KUBERNETES, HELM)
OPTIONAL_TOOLS = (KUEUE,)


def binary(name: str) -> Path:
    for tool in (*ALL_TOOLS, *OPTIONAL_TOOLS):
        if name in tool.binaries:
            return tool.bin_dir / name
    raise KeyError(name)
