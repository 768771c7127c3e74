"""What a dashboard user must be allowed for each read and action, as plain data.

The dashboard never lends the operator's rights: every read and every action is checked with
a SubjectAccessReview for the user the token belongs to, before the operator does it.
"""

from __future__ import annotations

import re

from agenttasks.core.privilege import Access, UserInfo

MAX_TOKEN_CHARS = 16 * 1024
_TOKEN = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces
# A namespace is a DNS-1123 label.
NAMESPACE_PATTERN = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


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
