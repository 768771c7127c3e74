"""The review objects of the authentication and authorization APIs: the TokenReview,
SubjectAccessReview and SelfSubjectReview bodies the operator sends, and how their answers
are read. Plain data; kube/ sends them."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from agenttasks.core.privilege import Access, UserInfo


def token_key(token: str) -> str:
    """The cache key of a token: its SHA-256, so that no token is ever kept or logged."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_review_body(token: str, audiences: Sequence[str] = ()) -> dict[str, Any]:
    """A TokenReview of ``token``; with ``audiences``, only a token issued for one of them
    is valid (so a token minted for another service cannot be replayed here)."""
    spec: dict[str, Any] = {"token": token}
    if audiences:
        spec["audiences"] = list(audiences)
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}


def user_from_token_review(review: Mapping[str, Any],
                           audiences: Sequence[str] = ()) -> UserInfo | None:
    """The authenticated user of a TokenReview's answer, or None when it is not valid.

    With ``audiences`` (those the review asked for), the answer must also name one of them
    in ``status.audiences``: an authenticator that ignores audiences leaves it empty, which
    means "valid for the API server", and the API docs ask such answers to be refused."""
    status = review.get("status") or {}
    if not status.get("authenticated"):
        return None
    if audiences and not set(audiences) & set(status.get("audiences") or []):
        return None
    return user_info(status.get("user") or {})


def user_info(user: Mapping[str, Any]) -> UserInfo | None:
    """A UserInfo from the ``user`` object of a review or an AdmissionReview."""
    if not user.get("username"):
        return None
    extra = {str(k): tuple(str(v) for v in (values or []))
             for k, values in (user.get("extra") or {}).items()}
    return UserInfo(username=str(user["username"]), uid=str(user.get("uid") or ""),
                    groups=tuple(str(g) for g in user.get("groups") or []), extra=extra)


SELF_SUBJECT_REVIEW = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}


def username_of_self_review(review: Mapping[str, Any]) -> str:
    """Who the API server says the caller is, from a SelfSubjectReview's answer."""
    info = ((review.get("status") or {}).get("userInfo") or {})
    return str(info.get("username") or "")


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
