"""What became of a submitted manifest, read from the object the operator wrote status on."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from agenttasks.api.schedule import ScheduleReason
from agenttasks.api.task import Phase, Reason, is_terminal
from agenttasks.api.trigger import TriggerReason
from tests.fuzz.cases import Case, Expect, Kind


class Verdict(StrEnum):
    REFUSED = "refused at the API"
    INVALID = "marked invalid"
    RAN = "ran"
    """A task that reached a terminal phase (Completed, Failed, Cancelled) other than invalid."""
    READY = "ready"
    """A schedule or trigger whose Ready condition is True."""
    HELD = "held"
    """A task that waits by design: paused, a far startAfter, missing dependencies."""
    UNDECIDED = "undecided"
    """No verdict within the wait: a finding in itself."""


# The verdicts that say "this spec cannot work". DependencyCycle is the task's own word for a
# dependsOn that closes a cycle (self-dependency included), which is what the admission
# webhook refuses when it is in the loop.
INVALID_TASK_REASONS = {Reason.INVALID_SPEC, Reason.DEPENDENCY_CYCLE}
INVALID_SCHEDULE_REASONS = {ScheduleReason.INVALID_SCHEDULE}
INVALID_TRIGGER_REASONS = {TriggerReason.INVALID_SPEC, TriggerReason.INVALID_FILTER,
                           TriggerReason.INVALID_PARAMS}
HELD_TASK_REASONS = {Reason.WAITING_FOR_START_TIME, Reason.WAITING_FOR_DEPENDENCIES,
                     Reason.PAUSED}


def _ready_condition(status: dict[str, Any]) -> dict[str, Any] | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)


def classify(kind: Kind, body: dict[str, Any]) -> tuple[Verdict, str]:
    """The verdict on an accepted object, and the reason the operator gave."""
    status = body.get("status") or {}
    if kind == Kind.TASK:
        phase, reason = status.get("phase"), status.get("reason") or ""
        if phase == Phase.FAILED and reason in INVALID_TASK_REASONS:
            return Verdict.INVALID, reason
        if is_terminal(phase, reason):
            return Verdict.RAN, reason
        if reason in HELD_TASK_REASONS:
            return Verdict.HELD, reason
        return Verdict.UNDECIDED, f"{phase}/{reason}"
    ready = _ready_condition(status)
    if ready is None:
        return Verdict.UNDECIDED, "no Ready condition"
    reason = str(ready.get("reason") or "")
    if ready.get("status") == "True":
        return Verdict.READY, reason
    invalid = INVALID_SCHEDULE_REASONS if kind == Kind.SCHEDULE else INVALID_TRIGGER_REASONS
    if reason in invalid:
        return Verdict.INVALID, reason
    return Verdict.UNDECIDED, f"Ready False/{reason}"


@dataclass
class Outcome:
    case: Case
    verdict: Verdict = Verdict.UNDECIDED
    detail: str = ""

    def problem(self) -> str | None:
        """Why this outcome breaks the promise of the case's Expect, or None."""
        if self.verdict == Verdict.UNDECIDED:
            return "no verdict in time"
        if self.case.expect == Expect.INVALID:
            if self.verdict in (Verdict.REFUSED, Verdict.INVALID):
                return None
            return f"invalid spec ({self.case.why}) was not refused: {self.verdict}"
        if self.verdict in (Verdict.REFUSED, Verdict.INVALID):
            return f"{self.case.expect} spec ({self.case.why}) was {self.verdict}: {self.detail}"
        return None


@dataclass
class Tally:
    outcomes: list[Outcome] = field(default_factory=list)

    def counts(self) -> Counter[Verdict]:
        return Counter(o.verdict for o in self.outcomes)

    def problems(self) -> list[str]:
        found = []
        for o in self.outcomes:
            why = o.problem()
            if why:
                found.append(f"{o.case.kind} {o.case.name}: {why}")
        return found

    def table(self, operator_errors: int) -> str:
        counts = self.counts()
        rows = [("submitted", len(self.outcomes)),
                *[(verdict.value, counts[verdict]) for verdict in Verdict],
                ("operator errors", operator_errors)]
        by_kind = Counter((o.case.kind.value, o.case.expect.value, o.verdict.value)
                          for o in self.outcomes)
        lines = ["", "fuzzed manifests:"]
        lines += [f"  {label:<20} {count:>5}" for label, count in rows]
        lines.append("  by kind / generator's intent / verdict:")
        lines += [f"    {k:<18} {e:<8} {vd:<20} {n:>4}"
                  for (k, e, vd), n in sorted(by_kind.items())]
        return "\n".join(lines)
