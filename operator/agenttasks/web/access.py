"""Who a dashboard user is and what they may do, as plain data: the TokenReview and
SubjectAccessReview bodies the dashboard sends, and how their answers are read.

The dashboard never lends the operator's rights: every read and every action is checked with
a SubjectAccessReview for the user the token belongs to, before the operator does it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agenttasks.api.meta import GROUP

MAX_TOKEN_CHARS = 16 * 1024
_TOKEN = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces
# A namespace is a DNS-1123 label.
NAMESPACE_PATTERN = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class UserInfo:
    """The user a TokenReview found: what a SubjectAccessReview must be asked about."""

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


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; None when there is no
    header. Raises ValueError for a header that is not a well-formed bearer token."""
    if header is None or not header.strip():
        return None
    scheme, _sep, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ValueError("the Authorization header must be 'Bearer <token>'")
    if len(token) > MAX_TOKEN_CHARS or not _TOKEN.match(token):
        raise ValueError("the bearer token is malformed")
    return token


def token_key(token: str) -> str:
    """The cache key of a token: its SHA-256, so that no token is ever kept or logged."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_review_body(token: str, audiences: tuple[str, ...] = ()) -> dict[str, Any]:
    """``audiences``: the token must be meant for one of them; none: for the API server."""
    spec: dict[str, Any] = {"token": token}
    if audiences:
        spec["audiences"] = list(audiences)
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}


def user_from_token_review(review: Mapping[str, Any], audiences: tuple[str, ...] = ()
                           ) -> UserInfo | None:
    """The authenticated user of a TokenReview's answer, or None when it is not valid. With
    ``audiences`` asked for, the answer must name one of them: an authenticator that ignores
    audiences says nothing there, and its yes is not one for this audience."""
    status = review.get("status") or {}
    user = status.get("user") or {}
    if not status.get("authenticated") or not user.get("username"):
        return None
    if audiences and not set(audiences) & set(status.get("audiences") or ()):
        return None
    extra = {str(k): tuple(str(v) for v in (values or []))
             for k, values in (user.get("extra") or {}).items()}
    return UserInfo(username=str(user["username"]), uid=str(user.get("uid") or ""),
                    groups=tuple(str(g) for g in user.get("groups") or []), extra=extra)


def access_review_body(user: UserInfo, access: Access) -> dict[str, Any]:
    """A SubjectAccessReview asking whether ``user`` may do ``access``."""
    attributes = {"verb": access.verb, "group": access.group, "resource": access.resource}
    if access.namespace:
        attributes["namespace"] = access.namespace
    if access.name:
        attributes["name"] = access.name
    if access.subresource:
        attributes["subresource"] = access.subresource
    spec: dict[str, Any] = {"user": user.username, "groups": list(user.groups),
                            "resourceAttributes": attributes}
    if user.uid:
        spec["uid"] = user.uid
    if user.extra:
        spec["extra"] = {k: list(v) for k, v in user.extra.items()}
    return {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": spec}


def access_allowed(review: Mapping[str, Any]) -> bool:
    """Whether a SubjectAccessReview's answer allows the request (denied wins)."""
    status = review.get("status") or {}
    return bool(status.get("allowed")) and not status.get("denied")


def denial(user: UserInfo, access: Access) -> str:
    return f"{user.username} may not {access.describe()}"


# --- what each read and action needs ---------------------------------------------------------

READ_RESOURCES = {"tasks": "agenttasks", "schedules": "agenttaskschedules",
                  "triggers": "agenttasktriggers"}


def list_access(resource: str, namespace: str = "") -> Access:
    """Listing ``resource`` in ``namespace`` ("" for every namespace)."""
    return Access("list", resource, namespace)


def get_task_access(namespace: str, name: str) -> Access:
    return Access("get", "agenttasks", namespace, name)


def events_access(namespace: str) -> Access:
    return Access("list", "events", namespace, group="")


TASK_ACTIONS = ("pause", "resume", "cancel", "rerun")


def task_action_access(action: str, namespace: str, name: str) -> list[Access]:
    """Every permission an action on one task needs. A rerun reads the old task and creates
    a new one; the create is checked without a name, as kubectl's would be (RBAC cannot
    limit create to names)."""
    if action in ("pause", "resume", "cancel"):
        return [Access("patch", "agenttasks", namespace, name)]
    if action == "rerun":
        return [Access("get", "agenttasks", namespace, name),
                Access("create", "agenttasks", namespace)]
    raise ValueError(f"unknown action {action!r}")


def run_now_access(namespace: str, name: str) -> Access:
    return Access("patch", "agenttaskschedules", namespace, name)


def create_task_access(namespace: str) -> Access:
    """A new task from the form: what ``kubectl create`` would need."""
    return Access("create", "agenttasks", namespace)
