"""controller.template_rights: the admission webhook's check of a template's writer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agenttasks.controller.template_rights import RightsUnknown, TemplateRights
from agenttasks.core.privilege import OperatorIdentity
from agenttasks.kube.access_reviews import AccessReviews

OPERATOR = OperatorIdentity("ops", "agenttasks")
PLAIN = {"spec": {"containers": [{"name": "a", "image": "busybox"}]}}
AS_DEPLOYER = {"spec": {**PLAIN["spec"], "serviceAccountName": "deployer"}}


class Rbac:
    """SubjectAccessReview answers from (user, verb, resource, namespace, name) rules."""

    def __init__(self, *rules: tuple[str, str, str, str, str]) -> None:
        self.rules, self.asked = set(rules), 0
        self.down = False

    async def review_access(self, body: dict[str, Any]) -> dict[str, Any]:
        self.asked += 1
        if self.down:
            raise ConnectionError("refused")
        a = body["spec"]["resourceAttributes"]
        key = (body["spec"]["user"], a["verb"], a["resource"], a["namespace"], a.get("name", ""))
        return {"status": {"allowed": key in self.rules}}


def refusal(rbac: Rbac, user: str, template: dict[str, Any],
            old: dict[str, Any] | None = None, namespace: str = "team-a",
            check: bool = True) -> str | None:
    rights = TemplateRights(AccessReviews(rbac), OPERATOR, check)
    return asyncio.run(rights.refusal("AgentTask", namespace, {"username": user}, template, old))


def test_create_jobs_is_needed_for_any_template() -> None:
    rbac = Rbac(("alice", "create", "jobs", "team-a", ""))
    assert refusal(rbac, "alice", PLAIN) is None
    why = refusal(rbac, "bob", PLAIN)
    assert why and why.startswith("bob may not create jobs.batch in namespace 'team-a'")


def test_a_named_service_account_needs_impersonate() -> None:
    rbac = Rbac(("alice", "create", "jobs", "team-a", ""))
    why = refusal(rbac, "alice", AS_DEPLOYER)
    assert why and "may not impersonate serviceaccounts 'deployer'" in why
    rbac.rules.add(("alice", "impersonate", "serviceaccounts", "team-a", "deployer"))
    assert refusal(rbac, "alice", AS_DEPLOYER) is None


def test_an_update_that_keeps_the_template_is_not_checked() -> None:
    rbac = Rbac()  # bob may do nothing, but pausing keeps the template as it was
    assert refusal(rbac, "bob", PLAIN, old=PLAIN) is None
    assert rbac.asked == 0
    assert refusal(rbac, "bob", AS_DEPLOYER, old=PLAIN)


def test_the_operators_own_writes_are_not_checked_again() -> None:
    rbac = Rbac()
    assert refusal(rbac, OPERATOR.username, AS_DEPLOYER) is None
    assert rbac.asked == 0


def test_a_split_receivers_writes_are_trusted_as_the_operators() -> None:
    rbac = Rbac()
    receiver = "system:serviceaccount:ops:agenttasks-receiver"
    rights = TemplateRights(AccessReviews(rbac), OPERATOR, True, frozenset({receiver}))
    assert asyncio.run(rights.refusal("AgentTask", "team-a", {"username": receiver},
                                      AS_DEPLOYER, None)) is None
    assert rbac.asked == 0
    assert asyncio.run(rights.refusal("AgentTask", "team-a", {"username": "bob"},
                                      AS_DEPLOYER, None))


def test_the_operators_namespace_is_refused_to_everyone() -> None:
    why = refusal(Rbac(), OPERATOR.username, PLAIN, namespace="ops")
    assert why and "operator's own" in why


def test_the_check_can_be_turned_off_but_not_the_identity_rule() -> None:
    assert refusal(Rbac(), "bob", AS_DEPLOYER, check=False) is None
    assert refusal(Rbac(), "bob", PLAIN, namespace="ops", check=False)


def test_an_unanswered_review_refuses_the_write() -> None:
    rbac = Rbac()
    rbac.down = True
    with pytest.raises(RightsUnknown):
        refusal(rbac, "alice", PLAIN)
