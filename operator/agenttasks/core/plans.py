"""Plan gating: which features each plan allows. The one table of it."""

from __future__ import annotations

from enum import StrEnum

from agenttasks.api.task import AgentTaskSpec


class Plan(StrEnum):
    STARTER = "starter"
    GROWTH = "growth"
    ENTERPRISE = "enterprise"


_RANK = {Plan.STARTER: 0, Plan.GROWTH: 1, Plan.ENTERPRISE: 2}

# Feature → the lowest plan that allows it.
FEATURES: dict[str, Plan] = {
    "spec.dependsOn": Plan.GROWTH,
    "spec.deadline": Plan.GROWTH,
    "AgentTaskSchedule": Plan.GROWTH,
}


def allows(plan: Plan, feature: str) -> bool:
    return _RANK[plan] >= _RANK[FEATURES.get(feature, Plan.STARTER)]


def refusal(plan: Plan, feature: str) -> str | None:
    """Why ``feature`` is refused under ``plan``, or None when it is allowed."""
    if allows(plan, feature):
        return None
    return f"{feature} needs the {FEATURES[feature]} plan or higher; " \
        f"this operator runs the {plan} plan"


def task_refusal(plan: Plan, spec: AgentTaskSpec) -> str | None:
    used = []
    if spec.depends_on:
        used.append("spec.dependsOn")
    if spec.deadline is not None:
        used.append("spec.deadline")
    for feature in used:
        why = refusal(plan, feature)
        if why:
            return why
    return None
