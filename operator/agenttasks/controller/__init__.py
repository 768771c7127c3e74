"""The imperative shell: informers and indexes gather facts, `core` decides, and the
reconcilers apply what it decided through `kube`."""
