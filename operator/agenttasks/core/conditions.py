"""Conditions derived from the phase, with stable lastTransitionTime."""

from __future__ import annotations

from datetime import datetime

from agenttasks.api.conditions import Condition
from agenttasks.api.task import Phase, Reason, is_terminal


def derive_conditions(phase: Phase, reason: str, message: str, generation: int,
                      previous: list[Condition], now: datetime) -> list[Condition]:
    """Complete/Failed as on Jobs (present only when True), and kstatus Ready, plus
    Reconciling or Stalled while they are True."""
    wanted: list[tuple[str, str, str, str]] = []
    terminal = is_terminal(phase, reason)
    if phase == Phase.COMPLETED:
        wanted.append(("Complete", "True", reason, message))
    elif terminal:
        wanted.append(("Failed", "True", reason, message))
    if phase == Phase.COMPLETED:
        wanted.append(("Ready", "True", reason, message))
    else:
        wanted.append(("Ready", "False", reason, message))
    if terminal and phase != Phase.COMPLETED:
        wanted.append(("Stalled", "True", reason, message))
    elif not terminal:
        wanted.append(("Reconciling", "True", reason or Reason.QUEUED, message))
    before = {c.type: c for c in previous}
    result = []
    for type_, status, why, text in wanted:
        old = before.get(type_)
        since = old.last_transition_time if old and old.status == status else now
        result.append(Condition(type=type_, status=status, reason=why, message=text,
                                last_transition_time=since, observed_generation=generation))
    return result


def set_condition(previous: list[Condition], type_: str, status: str, reason: str,
                  message: str, generation: int, now: datetime) -> list[Condition]:
    """``previous`` with one condition replaced; lastTransitionTime moves only when the
    status does."""
    old = next((c for c in previous if c.type == type_), None)
    since = old.last_transition_time if old and old.status == status else now
    new = Condition(type=type_, status=status, reason=reason,
                    message=message, last_transition_time=since, observed_generation=generation)
    return [c for c in previous if c.type != type_] + [new]
