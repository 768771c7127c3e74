"""Who may make the operator run a pod, as plain rules: no one gains a right through our kinds.

An AgentTask's pod template becomes a Job, and the Job's pods run as the ServiceAccount the
template names, with whatever volumes it mounts. So writing a task template is worth exactly
what creating that Job is worth, and the rules ask for those rights:

- ``create jobs.batch`` in the namespace: what ``kubectl create job`` would need.
- ``impersonate serviceaccounts/<name>`` in the namespace, when the template names a
  ServiceAccount other than ``default``. Kubernetes itself lets anyone who creates pods use
  any ServiceAccount of their namespace; we ask for more, the verb the built-in ``edit`` and
  ``admin`` roles grant on ServiceAccounts, so that a team can hand out "create tasks and
  jobs" without handing out its deployer's token.

The operator's own identity is never lent: it runs no task in its own namespace unless that
namespace was named explicitly (a cluster-wide install serves every other namespace), and
no task that names its own ServiceAccount.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agenttasks.api.meta import GROUP

DEFAULT_SERVICE_ACCOUNT = "default"
_SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class UserInfo:
    """A user as the API server authenticated them: what a SubjectAccessReview asks about."""

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Access:
    """One request as Kubernetes authorizes it: verb on (group) resource, namespace, name."""

    verb: str
    resource: str
    namespace: str = ""
    name: str = ""
    group: str = GROUP
    subresource: str = ""

    def describe(self) -> str:
        what = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        if self.group:
            what = f"{what}.{self.group}"
        if self.name:
            what = f"{what} {self.name!r}"
        where = f"in namespace {self.namespace!r}" if self.namespace else "in all namespaces"
        return f"{self.verb} {what} {where}"


@dataclass(frozen=True)
class OperatorIdentity:
    """Who the operator is: the ServiceAccount it runs as (empty when it runs with a
    person's kubeconfig, which has no namespace to protect) and whether its namespace was
    named explicitly among those it serves."""

    namespace: str = ""
    service_account: str = ""
    own_namespace_named: bool = False

    @property
    def username(self) -> str:
        if not self.namespace or not self.service_account:
            return ""
        return f"{_SERVICE_ACCOUNT_PREFIX}{self.namespace}:{self.service_account}"


def identity_of(username: str, named_namespaces: tuple[str, ...]) -> OperatorIdentity:
    """The operator's identity from the username the API server knows it by (a
    SelfSubjectReview's answer). ``named_namespaces`` are the exact --namespace names."""
    if not username.startswith(_SERVICE_ACCOUNT_PREFIX):
        return OperatorIdentity()
    namespace, _sep, account = username[len(_SERVICE_ACCOUNT_PREFIX):].partition(":")
    if not namespace or not account:
        return OperatorIdentity()
    return OperatorIdentity(namespace, account, namespace in named_namespaces)


def service_account_of(pod_template: Mapping[str, Any]) -> str:
    """The ServiceAccount a pod template's pods run as (``serviceAccount`` is the old,
    deprecated spelling that the API server still honours)."""
    spec = pod_template.get("spec") or {}
    if not isinstance(spec, Mapping):
        return DEFAULT_SERVICE_ACCOUNT
    name = spec.get("serviceAccountName") or spec.get("serviceAccount")
    return name if isinstance(name, str) and name else DEFAULT_SERVICE_ACCOUNT


def run_access(namespace: str, pod_template: Mapping[str, Any]) -> tuple[Access, ...]:
    """What a user must be allowed before a template they wrote runs in ``namespace``."""
    needed = [Access("create", "jobs", namespace, group="batch")]
    account = service_account_of(pod_template)
    if account != DEFAULT_SERVICE_ACCOUNT:
        needed.append(Access("impersonate", "serviceaccounts", namespace, account, group=""))
    return tuple(needed)


def identity_refusal(namespace: str, pod_template: Mapping[str, Any],
                     identity: OperatorIdentity) -> str | None:
    """Why the operator will not run this template in ``namespace``; None when it may."""
    if not identity.namespace or namespace != identity.namespace:
        return None
    if service_account_of(pod_template) == identity.service_account:
        return (f"the template uses the operator's own ServiceAccount "
                f"{identity.service_account!r}; tasks never run as the operator")
    if not identity.own_namespace_named:
        return (f"namespace {namespace!r} is the operator's own; it runs tasks here only "
                "when this namespace is named explicitly (--namespace)")
    return None


def is_operator(user: UserInfo, identity: OperatorIdentity) -> bool:
    """Whether a request comes from the operator itself (a task it creates for a schedule,
    a trigger or a dashboard action, whose template was checked when it was written)."""
    return bool(identity.username) and user.username == identity.username


def template_changed(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """Whether an update changes a template (a create always does)."""
    return old is None or dict(old) != dict(new)
