"""core.privilege: what writing a template is worth, and the operator's own identity."""

from __future__ import annotations

from typing import Any

import pytest

from agenttasks.core.privilege import (
    Access,
    OperatorIdentity,
    UserInfo,
    identity_of,
    identity_refusal,
    is_operator,
    run_access,
    service_account_of,
)

CREATE_JOBS = Access("create", "jobs", "team-a", group="batch")


def template(**spec: Any) -> dict[str, Any]:
    return {"spec": {"containers": [{"name": "agent", "image": "busybox"}], **spec}}


def test_a_template_without_a_service_account_needs_create_jobs_only() -> None:
    assert run_access("team-a", template()) == (CREATE_JOBS,)
    assert run_access("team-a", template(serviceAccountName="default")) == (CREATE_JOBS,)


@pytest.mark.parametrize("field", ["serviceAccountName", "serviceAccount"])
def test_a_named_service_account_needs_impersonate_on_it(field: str) -> None:
    assert run_access("team-a", template(**{field: "ci-deployer"})) == (
        CREATE_JOBS,
        Access("impersonate", "serviceaccounts", "team-a", "ci-deployer", group=""))


@pytest.mark.parametrize("body", [{}, {"spec": None}, {"spec": "x"},
                                  {"spec": {"serviceAccountName": 7}}])
def test_odd_templates_run_as_default(body: dict[str, Any]) -> None:
    assert service_account_of(body) == "default"


def test_identity_from_a_service_account_username() -> None:
    assert identity_of("system:serviceaccount:ops:agenttasks", ()) == \
        OperatorIdentity("ops", "agenttasks", False)
    assert identity_of("system:serviceaccount:ops:agenttasks", ("ops", "team-a")) == \
        OperatorIdentity("ops", "agenttasks", True)
    assert identity_of("kubernetes-admin", ()) == OperatorIdentity()
    assert identity_of("system:serviceaccount:ops", ()) == OperatorIdentity()
    assert OperatorIdentity().username == ""


def test_the_operator_namespace_is_refused_unless_named() -> None:
    cluster_wide = OperatorIdentity("ops", "agenttasks", own_namespace_named=False)
    why = identity_refusal("ops", template(), cluster_wide)
    assert why and "operator's own" in why and "--namespace" in why
    assert identity_refusal("team-a", template(), cluster_wide) is None
    named = OperatorIdentity("ops", "agenttasks", own_namespace_named=True)
    assert identity_refusal("ops", template(), named) is None


def test_the_operator_service_account_is_refused_even_where_named() -> None:
    named = OperatorIdentity("ops", "agenttasks", own_namespace_named=True)
    why = identity_refusal("ops", template(serviceAccountName="agenttasks"), named)
    assert why and "own ServiceAccount" in why
    # A ServiceAccount of the same name in another namespace is another account.
    assert identity_refusal("team-a", template(serviceAccountName="agenttasks"), named) is None


def test_without_a_service_account_identity_nothing_is_refused() -> None:
    assert identity_refusal("ops", template(serviceAccountName="x"), OperatorIdentity()) is None


def test_is_operator() -> None:
    me = OperatorIdentity("ops", "agenttasks")
    assert is_operator(UserInfo("system:serviceaccount:ops:agenttasks"), me)
    assert not is_operator(UserInfo("system:serviceaccount:team-a:agenttasks"), me)
    assert not is_operator(UserInfo(""), OperatorIdentity())
