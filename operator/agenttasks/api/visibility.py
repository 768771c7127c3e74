"""The visibility API: the waiting tasks as an aggregated API of the kube-apiserver, so that
``kubectl get pendingtasks`` reads them with RBAC enforced by the API server (as Kueue's
``visibility.kueue.x-k8s.io``). The operator serves it (web/visibility_api.py); these are the
names that the operator, the chart and the local cluster share."""

from __future__ import annotations

GROUP = "visibility.agenttasks.io"
VERSION = "v1alpha1"
GROUP_VERSION = f"{GROUP}/{VERSION}"
RESOURCE = "pendingtasks"
SINGULAR = "pendingtask"
KIND = "PendingTask"
LIST_KIND = "PendingTaskList"
SHORT_NAMES = ("ptask",)
APISERVICE_NAME = f"{VERSION}.{GROUP}"
"""An APIService is named <version>.<group>: one per cluster, whoever registers it."""
VERBS = ("get", "list")
"""Read only; no watch: the view is computed on request, and changes on every release."""

AUTHENTICATION_CONFIG_MAP = ("kube-system", "extension-apiserver-authentication")
"""Where the kube-apiserver publishes its front-proxy CA and header names for extension
API servers; the role ``extension-apiserver-authentication-reader`` may read it."""
