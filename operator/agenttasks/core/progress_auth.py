"""Who may report an attempt's progress, decided over facts: the pod a projected
ServiceAccount token was bound to (as a TokenReview told it), the Job that controls that
pod, and the task as the operator's view holds it.

A report is taken only from a pod whose controller is the current attempt's Job of the task
named in the URL, while that attempt runs. The token proves which pod it was issued to;
everything after that is a memory lookup here, so a refusal says nothing about which tasks
exist (every one gets the same answer).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agenttasks.api.meta import Key
from agenttasks.core.facts import JobFacts, TaskSummary
from agenttasks.core.naming import job_name
from agenttasks.core.privilege import UserInfo

POD_NAME_EXTRA = "authentication.kubernetes.io/pod-name"
POD_UID_EXTRA = "authentication.kubernetes.io/pod-uid"
_SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


# --- the token, before and after its review ---------------------------------------------------

def unverified_claims(token: str) -> Mapping[str, Any] | None:
    """The payload of a JWT, read WITHOUT checking its signature: only for refusing early
    what cannot pass a review, and for how long a review's answer may be kept (the review
    proves the payload authentic, exp included). None when it is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[1]:
        return None
    try:
        raw = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(raw)
    except (binascii.Error, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


def token_expiry(claims: Mapping[str, Any]) -> float | None:
    """The ``exp`` claim (seconds since the epoch), or None when it is missing or garbled."""
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return None
    return float(exp)


def worth_reviewing(claims: Mapping[str, Any] | None, audience: str, now: float) -> bool:
    """Whether a token may be valid for ``audience`` at all: a JWT that names it in ``aud``
    and has not expired. Anything else is refused without a TokenReview, so made-up
    strings cost the API server nothing."""
    if claims is None:
        return False
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    expiry = token_expiry(claims)
    return audience in audiences and expiry is not None and expiry > now


def review_ttl(claims: Mapping[str, Any] | None, now: float, cap_s: float,
               fallback_s: float) -> float:
    """How long a valid review's answer is kept: until the token expires, at most ``cap_s``
    (so a revoked ServiceAccount or a deleted pod is noticed within it, whatever the
    token's lifetime), ``fallback_s`` when the token has no ``exp``; 0: not at all."""
    expiry = token_expiry(claims) if claims is not None else None
    if expiry is None:
        return max(0.0, min(fallback_s, cap_s))
    return max(0.0, min(expiry - now, cap_s))


@dataclass(frozen=True)
class PodIdentity:
    """The pod a token was bound to, as the API server said (the review's user.extra)."""

    namespace: str
    name: str
    uid: str


def pod_identity(user: UserInfo | None) -> PodIdentity | None:
    """The pod of a reviewed ServiceAccount token; None for any other user, or a token not
    bound to a pod (a TokenRequest without boundObjectRef, a legacy Secret token)."""
    if user is None or not user.username.startswith(_SERVICE_ACCOUNT_PREFIX):
        return None
    namespace = user.username.removeprefix(_SERVICE_ACCOUNT_PREFIX).partition(":")[0]
    names, uids = user.extra.get(POD_NAME_EXTRA, ()), user.extra.get(POD_UID_EXTRA, ())
    if not namespace or len(names) != 1 or len(uids) != 1 or not names[0] or not uids[0]:
        return None
    return PodIdentity(namespace, names[0], uids[0])


# --- the pod, its Job and the task ----------------------------------------------------------

@dataclass(frozen=True)
class Controller:
    """An ownerReference with ``controller: true``."""

    api_version: str
    kind: str
    name: str
    uid: str


@dataclass(frozen=True)
class PodFacts:
    namespace: str
    name: str
    uid: str
    controller: Controller | None
    deleting: bool = False


@dataclass(frozen=True)
class PodBinding:
    """What a pod is to us: one of the pods of ``job_name`` (the Job of ``attempt``),
    which the task with ``task_uid`` controls. Kept per pod uid: a pod never changes
    Job, and whether its attempt is still the current one is decided on each report."""

    pod_uid: str
    job_name: str
    job_uid: str
    task_uid: str
    attempt: int


def bind_pod(reviewed: PodIdentity, pod: PodFacts | None,
             job: JobFacts | None) -> PodBinding | None:
    """The binding of the reviewed pod, when the pod read by its name is that very pod (same
    uid, not being deleted) and its controller is ``job``: a Job of ours (an attempt label)
    that something controls. Which task that is, is checked on each report."""
    if pod is None or job is None or pod.uid != reviewed.uid or pod.deleting:
        return None
    if (pod.namespace, pod.name) != (reviewed.namespace, reviewed.name):
        return None
    ref = pod.controller
    if ref is None or (ref.api_version, ref.kind) != ("batch/v1", "Job"):
        return None
    if (ref.name, ref.uid) != (job.name, job.uid) or not job.owner_uid:
        return None
    return PodBinding(pod.uid, job.name, ref.uid, job.owner_uid, job.attempt)


def reporting_attempt(key: Key, binding: PodBinding, task: TaskSummary | None,
                      job_now: JobFacts | None) -> int | None:
    """The attempt a report of the bound pod counts for, if it may report for task ``key``
    now: the task exists under the uid that controls the pod's Job, has not finished, and
    that Job is its current attempt's (the deterministic name of ``status.attempts``).
    ``job_now`` is the Job as the index holds it now (None: not there yet): once it has
    finished or is being deleted, its pods are done reporting, even before the task's
    status says so."""
    if task is None or task.key != key or task.uid != binding.task_uid:
        return None
    if task.terminal or task.attempts != binding.attempt:
        return None
    if binding.job_name != job_name(task.name, binding.attempt):
        return None
    if job_now is not None and (job_now.uid != binding.job_uid or job_now.finished or
                                job_now.deleting):
        return None
    return binding.attempt
