"""Failure rules (spec.retries.rules) over the facts of a failed attempt: which rule matched,
and what the next attempt runs with.

A Job's podFailurePolicy applies the same rules pod by pod inside an attempt
(manifests/pod_failure_policy.py); between attempts the operator judges the attempt from
its failed pods as read by the shell, so the record names the rule even when the Job
controller acted first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from agenttasks.api.failure_rules import FailureRule, RuleAction
from agenttasks.core.facts import FailedPod
from agenttasks.core.quantity import format_memory, memory_bytes

OOM_REASON = "OOMKilled"
DEFAULT_DISRUPTION = "default: disruptions do not count"
MAX_IGNORED_ATTEMPTS = 10
"""Attempts a rule may leave uncounted; beyond them failures count, so that an Ignore rule
can never retry a task forever."""


@dataclass(frozen=True)
class RuleMatch:
    """The verdict on a failed attempt."""

    action: RuleAction
    index: int | None
    """The matching rule's place in spec.retries.rules; None for the built-in default."""
    exit_code: int | None = None
    oom: bool = False
    disrupted: bool = False

    @property
    def label(self) -> str:
        return DEFAULT_DISRUPTION if self.index is None else f"retries.rules[{self.index}]"


def _pod_match(rules: list[FailureRule], pod: FailedPod) -> RuleMatch | None:
    oom = any(end.reason == OOM_REASON for end in pod.ends)
    for index, rule in enumerate(rules):
        if rule.exit_codes is not None:
            for end in pod.ends:
                if end.exit_code in rule.exit_codes and rule.container in (None, end.container):
                    return RuleMatch(rule.action, index, end.exit_code, oom, pod.disrupted)
        elif (rule.on_disruption and pod.disrupted) or (rule.on_oom_killed and oom):
            return RuleMatch(rule.action, index, _exit_code(pod), oom, pod.disrupted)
    if pod.disrupted:
        return RuleMatch(RuleAction.IGNORE, None, _exit_code(pod), oom, True)
    return None


def oom_killed(pods: Iterable[FailedPod]) -> bool:
    return any(end.reason == OOM_REASON for pod in pods for end in pod.ends)


def first_exit_code(pods: Iterable[FailedPod]) -> int | None:
    return next((code for pod in pods if (code := _exit_code(pod)) is not None), None)


def _exit_code(pod: FailedPod) -> int | None:
    return next((end.exit_code for end in pod.ends if end.exit_code), None)


def judge(rules: list[FailureRule], pods: Iterable[FailedPod]) -> RuleMatch | None:
    """The attempt's verdict from its failed pods, first matching rule per pod: FailTask if
    any pod's rule says so; else the failure counts if any pod's does (Retry, or no rule);
    else, when every failed pod was ignored, Ignore. None: no rule matched and nothing was
    disrupted (a plain failure, which counts)."""
    matches = [(pod, _pod_match(rules, pod)) for pod in pods]
    if not matches:
        return None
    for _pod, match in matches:
        if match is not None and match.action == RuleAction.FAIL_TASK:
            return match
    counted = [(pod, m) for pod, m in matches if m is None or m.action == RuleAction.RETRY]
    if counted:
        ruled = [m for _p, m in counted if m is not None]
        # An OOM rule's match goes first: it is the one that changes the next attempt.
        ruled.sort(key=lambda m: not m.oom)
        return ruled[0] if ruled else None
    return next(m for _p, m in matches if m is not None)


def memory_raise_rule(rules: list[FailureRule]) -> FailureRule | None:
    return next((r for r in rules if r.on_oom_killed and r.raise_memory is not None), None)


def raised_memory(template: Mapping[str, Any], rule: FailureRule | None, ooms: int
                  ) -> dict[str, dict[str, str]]:
    """Memory for each container of ``template`` after ``ooms`` attempts killed for memory:
    its request and limit times factor^ooms, the limit capped at the rule's max and the
    request at the limit. Containers that set no memory, or in a form not understood, are
    left alone (there is nothing to raise). Empty when nothing changes."""
    if rule is None or rule.raise_memory is None or ooms <= 0:
        return {}
    cap = memory_bytes(rule.raise_memory.max)
    scale = rule.raise_memory.factor ** ooms
    raised: dict[str, dict[str, str]] = {}
    for container in (template.get("spec") or {}).get("containers") or []:
        resources = container.get("resources") or {}
        new: dict[str, str] = {}
        limit = _scaled((resources.get("limits") or {}).get("memory"), scale, cap)
        if limit is not None:
            new["limits"] = format_memory(limit)
        request = _scaled((resources.get("requests") or {}).get("memory"), scale,
                          limit if limit is not None else cap)
        if request is not None:
            new["requests"] = format_memory(request)
        if new and isinstance(container.get("name"), str):
            raised[container["name"]] = new
    return raised


def _scaled(quantity: object, scale: float, cap: int | None) -> int | None:
    size = memory_bytes(quantity) if isinstance(quantity, str) else None
    if size is None:
        return None
    grown = int(size * scale)
    return min(grown, cap) if cap is not None else grown
