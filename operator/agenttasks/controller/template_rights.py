"""The admission webhook's rights check: whoever writes a task template may run it.

A template written into an AgentTask, or into a schedule or trigger that creates tasks
later, is checked once, as it is written, for the user who writes it (core.privilege says
what it needs). Tasks the operator creates itself from a checked schedule or trigger, or for
a dashboard user it has checked, are not checked again: the operator holds none of the
rights they need (impersonate), and their template was checked under its author's name.
The same holds for a split webhook receiver (``also_trusted``), which creates only tasks of
checked triggers; docs/security.md says what a compromised receiver could still do.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from agenttasks.core.privilege import (
    OperatorIdentity,
    identity_refusal,
    is_operator,
    run_access,
    template_changed,
)
from agenttasks.kube.access_reviews import AccessReviews
from agenttasks.manifests.reviews import user_info

log = logging.getLogger("agenttasks.admission")
WHY = "runs as a Job, and writing it needs the rights that Job needs (docs/security.md)"


class RightsUnknown(Exception):
    """The SubjectAccessReview could not be made: the write is refused, to be retried."""


class TemplateRights:
    def __init__(self, access: AccessReviews, identity: OperatorIdentity,
                 check_writers: bool, also_trusted: frozenset[str] = frozenset()) -> None:
        self.access, self.identity, self.check_writers = access, identity, check_writers
        self.also_trusted = also_trusted

    async def refusal(self, kind: str, namespace: str, userinfo: Mapping[str, Any] | None,
                      template: Mapping[str, Any], old_template: Mapping[str, Any] | None
                      ) -> str | None:
        """Why ``userinfo`` may not write this pod ``template`` into a ``kind`` in
        ``namespace`` (``old_template``: the one it replaces); None when they may."""
        why = identity_refusal(namespace, template, self.identity)
        if why:
            return why
        if not self.check_writers or not template_changed(old_template, template):
            return None
        user = user_info(userinfo or {})
        if user is None:
            return f"the request names no user; a {kind}'s template is checked for its writer"
        if is_operator(user, self.identity) or user.username in self.also_trusted:
            return None
        for access in run_access(namespace, template):
            try:
                allowed = await self.access.allowed(user, access)
            except Exception as exc:
                log.warning("SubjectAccessReview failed: %s", exc)
                raise RightsUnknown("could not check the writer's rights; try again") from None
            if not allowed:
                return (f"{user.username} may not {access.describe()}; the template of "
                        f"this {kind} {WHY}")
        return None
