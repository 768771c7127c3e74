"""spec.retries.rules as a Job's podFailurePolicy, so that the Job controller applies them to
each pod inside an attempt (core/failures.py judges the attempt between attempts).

Rules on OOM kills have no place here: a pod's OOM kill is an exit code 137 like any
SIGKILL, so only the operator, which reads the container's reason, can tell them apart.
"""

from __future__ import annotations

from typing import Any

from agenttasks.api.failure_rules import FailureRule, RuleAction

_JOB_ACTIONS = {RuleAction.RETRY: "Count", RuleAction.FAIL_TASK: "FailJob",
                RuleAction.IGNORE: "Ignore"}
_DISRUPTION = {"type": "DisruptionTarget", "status": "True"}


def pod_failure_policy(rules: list[FailureRule]) -> dict[str, Any]:
    """The Job's podFailurePolicy: the rules in their order, then, unless a rule names
    disruptions, the default that a disruption does not count. The Job controller allows it
    only with restartPolicy Never (the caller's check)."""
    job_rules: list[dict[str, Any]] = []
    for rule in rules:
        action = _JOB_ACTIONS[rule.action]
        if rule.exit_codes is not None:
            codes: dict[str, Any] = {"operator": "In", "values": sorted(set(rule.exit_codes))}
            if rule.container:
                codes["containerName"] = rule.container
            job_rules.append({"action": action, "onExitCodes": codes})
        elif rule.on_disruption:
            job_rules.append({"action": action, "onPodConditions": [dict(_DISRUPTION)]})
    if not any(rule.on_disruption for rule in rules):
        job_rules.append({"action": "Ignore", "onPodConditions": [dict(_DISRUPTION)]})
    return {"rules": job_rules}
