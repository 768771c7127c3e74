"""A local Kubernetes control plane built from Go modules: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and kwok for simulated nodes and pods."""
