"""The real node's configuration files: containerd (with its CNI network), the kubelet,
kube-proxy and CoreDNS. Each writer takes the folder and writes one file; nothing runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

NODE_NAME = "agenttasks-node"
TAINT_KEY = "agenttasks.io/real-node"
PAUSE_IMAGE = "agenttasks.local/pause:3.10"
BRIDGE = "agt0"
NODE_IP = "198.51.100.1"  # TEST-NET-2: documentation addresses, routed nowhere
POD_CIDR = "198.51.100.0/24"
STATE = Path("/run/agenttasks-node")  # short: unix socket paths are limited to 108 bytes


def write_containerd_config(folder: Path) -> None:
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


def write_kubelet_config(folder: Path, ca: Path, tainted: bool) -> None:
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
        "registerWithTaints": [{"key": TAINT_KEY, "value": "true", "effect": "NoSchedule"}]
        if tainted else [],
        # A build machine's disk is shared and often fuller than a node's: never evict.
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%",
                         "imagefs.available": "1%", "nodefs.inodesFree": "1%"},
        "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
        "serializeImagePulls": False, "localStorageCapacityIsolation": False,
        "resolvConf": "/etc/resolv.conf", "clusterDomain": "cluster.local",
        "clusterDNS": [NODE_IP],
    }
    (folder / "kubelet.yaml").write_text(yaml.safe_dump(config))


def write_corefile(folder: Path, kubeconfig: Path) -> None:
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


def write_proxy_config(folder: Path, kubeconfig: Path) -> None:
    (folder / "kube-proxy.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)}, "mode": "iptables",
        "clusterCIDR": POD_CIDR, "bindAddress": NODE_IP, "hostnameOverride": NODE_NAME,
        "healthzBindAddress": "127.0.0.1:10256", "metricsBindAddress": "127.0.0.1:10249",
        "conntrack": {"maxPerCore": 0},  # leave the host's conntrack table size alone
    }))
