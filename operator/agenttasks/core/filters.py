"""Which deliveries a trigger acts on: a CEL expression over the payload, bound as ``body``.

As in Tekton Triggers, e.g. ``body.action == "opened" && body.pull_request.base.ref == "main"``
or ``"bug" in body.labels``. Only ``body`` is bound. JSON integers are CEL ints and other
numbers doubles (CEL does not compare the two: write ``body.number == 42``, not ``42.0``).

The engine (cel-python) stays behind `compile_filter` and `Filter`.
"""

from __future__ import annotations

from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError

# CEL ints are 64-bit; cel-python refuses larger JSON integers outright.
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class FilterError(ValueError):
    """The expression cannot be compiled."""


class Filter:
    """A compiled filter expression."""

    def __init__(self, expression: str, program: celpy.Runner) -> None:
        self.expression = expression
        self._program = program

    def matches(self, payload: Any) -> bool:
        """True only when the expression evaluates to boolean true for ``payload``.

        A missing field, a type mismatch or a non-boolean result means "no match": a sender's
        payload must never be able to fail the receiver.
        """
        try:
            result = self._program.evaluate({"body": json_to_cel(_fit_to_cel(payload))})
        except Exception:  # CELEvalError, but also RecursionError on absurd nesting and the like
            return False
        return isinstance(result, bool | celtypes.BoolType) and bool(result)

    def __repr__(self) -> str:
        return f"Filter({self.expression!r})"


def compile_filter(expression: str) -> Filter:
    """Compile ``expression``, raising FilterError with the parser's message when it is bad."""
    if not expression.strip():
        raise FilterError("the filter expression is empty")
    # A fresh Environment per call: cheap (the grammar is cached) and nothing shared.
    environment = celpy.Environment()
    try:
        program = environment.program(environment.compile(expression))
    except CELParseError as error:
        raise FilterError(f"invalid filter expression: {error}") from None
    except Exception as error:  # e.g. RecursionError from very deep nesting
        raise FilterError(f"invalid filter expression: {type(error).__name__}") from None
    return Filter(expression, program)


def _fit_to_cel(value: Any) -> Any:
    """The payload with integers beyond 64 bits turned into doubles, so the rest still works."""
    if isinstance(value, dict):
        return {key: _fit_to_cel(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_fit_to_cel(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return value if _INT64_MIN <= value <= _INT64_MAX else float(value)
    return value
