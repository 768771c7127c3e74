"""Which deliveries a trigger acts on: a CEL expression over the payload, bound as ``body``.

As in Tekton Triggers, e.g. ``body.action == "opened" && body.pull_request.base.ref == "main"``
or ``"bug" in body.labels``. Only ``body`` is bound. JSON integers are CEL ints and other
numbers doubles (CEL does not compare the two: write ``body.number == 42``, not ``42.0``).

cel-python has no cost limits, so three bounds stand in for them (docs/trigger.md):
``filter_cost_refusal`` refuses expressions whose shape is too costly before they are ever
compiled; ``bounded_payload`` cuts what the expression sees; and the shell evaluates in a
worker process that it kills at a time limit (web/filter_runner.py). Compiled programs are
cached by expression (``cached_filter``), since compiling costs more than most evaluations.

The engine (cel-python) stays behind `compile_filter` and `Filter`.
"""

from __future__ import annotations

import json
from enum import StrEnum
from functools import lru_cache
from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError
from lark import Token, Tree

from agenttasks.api.trigger import MAX_FILTER_LENGTH

# CEL ints are 64-bit; cel-python refuses larger JSON integers outright.
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

# --- the cost rules (admission and readiness refuse what breaks them) -----------------------
MAX_EXPRESSION_LENGTH = MAX_FILTER_LENGTH  # the schema's maxLength
# Each comprehension runs its body once per element: nested ones multiply. Two levels are a
# real need (commits x files); three are a million steps at 1,000 elements (about 190 s in
# cel-python, measured at 190 us a step).
MAX_COMPREHENSION_DEPTH = 2
MAX_COMPREHENSIONS = 8
COMPREHENSIONS = frozenset({"all", "exists", "exists_one", "map", "filter"})
# cel-python 0.5 parses duration and timestamp strings with a backtracking regular
# expression: exponential in the length of a crafted string (24 characters: 2.9 s). Only
# short literals, written by the trigger's author and seen here, are allowed, never a
# payload's string. timestamp() (pendulum) is held to the same rule: its cost is unmeasured.
MAX_PARSED_LITERAL = {"duration": 16, "timestamp": 40}  # "-87600h30m15.5s"; RFC 3339

# --- the slice of the payload a filter sees --------------------------------------------------
MAX_VALUES = 10_000  # converting 10,000 JSON values to CEL takes about 0.1 s
MAX_LIST_ITEMS = 1_000
MAX_DEPTH = 32

FILTER_CACHE_SIZE = 256


class FilterError(ValueError):
    """The expression cannot be compiled, or is too costly to run."""


class Outcome(StrEnum):
    """What evaluating a filter in a worker came to."""

    MATCH = "match"
    NO_MATCH = "no-match"
    INVALID = "invalid"  # the expression does not compile (or is over the cost limit)


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
    """Compile ``expression``, raising FilterError with the parser's message when it is bad
    or with the cost rule it breaks."""
    if not expression.strip():
        raise FilterError("the filter expression is empty")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise FilterError(f"the filter expression is longer than {MAX_EXPRESSION_LENGTH} "
                          "characters")
    # A fresh Environment per call: cheap (the grammar is cached) and nothing shared.
    environment = celpy.Environment()
    try:
        tree = environment.compile(expression)
    except CELParseError as error:
        raise FilterError(f"invalid filter expression: {error}") from None
    except Exception as error:  # e.g. RecursionError from very deep nesting
        raise FilterError(f"invalid filter expression: {type(error).__name__}") from None
    why = cost_refusal(tree)
    if why:
        raise FilterError(f"the filter is too costly: {why}")
    try:
        program = environment.program(tree)
    except Exception as error:
        raise FilterError(f"invalid filter expression: {type(error).__name__}") from None
    return Filter(expression, program)


@lru_cache(maxsize=FILTER_CACHE_SIZE)
def cached_filter(expression: str) -> Filter:
    """``compile_filter``, cached by expression (a FilterError is raised again each time)."""
    return compile_filter(expression)


def cost_refusal(tree: Tree[Token]) -> str | None:
    """Why the parsed expression is over the cost limit, or None."""
    comprehensions = 0
    # Iterative, with each node's comprehension depth: deep nesting must not recurse here.
    stack: list[tuple[Tree[Token] | Token, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, Tree):
            continue
        name = _called_function(node)
        if name in COMPREHENSIONS and node.data == "member_dot_arg":
            comprehensions += 1
            depth += 1
            if depth > MAX_COMPREHENSION_DEPTH:
                return (f"comprehensions ({', '.join(sorted(COMPREHENSIONS))}) nested more "
                        f"than {MAX_COMPREHENSION_DEPTH} deep")
        if name in MAX_PARSED_LITERAL:
            # Also the method form: cel-python evaluates body.d.duration() as duration(body.d).
            literal = _only_string_literal(node)
            if literal is None or len(literal) > MAX_PARSED_LITERAL[name]:
                return (f"{name}() takes only a string literal of at most "
                        f"{MAX_PARSED_LITERAL[name]} characters (cel-python parses it with "
                        "backtracking: a crafted string could run for minutes)")
        stack.extend((child, depth) for child in node.children)
    if comprehensions > MAX_COMPREHENSIONS:
        return f"more than {MAX_COMPREHENSIONS} comprehensions"
    return None


def _called_function(node: Tree[Token]) -> str | None:
    """The function or method a call node names: ``f(x)`` is ident_arg, ``x.f(y)``
    member_dot_arg."""
    if node.data == "ident_arg" and node.children and isinstance(node.children[0], Token):
        return str(node.children[0])
    if node.data == "member_dot_arg" and len(node.children) > 1 \
            and isinstance(node.children[1], Token):
        return str(node.children[1])
    return None


def _only_string_literal(call: Tree[Token]) -> str | None:
    """The call's one argument when it is a plain string literal, else None."""
    arguments = [c for c in call.children if isinstance(c, Tree) and c.data == "exprlist"]
    if call.data != "ident_arg" or len(arguments) != 1 or len(arguments[0].children) != 1:
        return None
    literals = [t for t in arguments[0].scan_values(lambda v: isinstance(v, Token))]
    subtrees = list(arguments[0].iter_subtrees())
    # A lone literal is a chain of single-child nodes ending in one token.
    if len(literals) != 1 or any(len(t.children) != 1 for t in subtrees):
        return None
    token = literals[0]
    if token.type != "STRING_LIT" and not str(token).startswith(('"', "'")):
        return None
    return str(token)[1:-1]


def bounded_payload(payload: Any) -> Any:
    """What a filter sees: ``payload`` cut to at most MAX_VALUES values in document order,
    lists to their first MAX_LIST_ITEMS items and nesting to MAX_DEPTH. What is cut is
    missing: ``has()`` is false for it and comparisons with it are no match."""
    budget = [MAX_VALUES]

    def cut(value: Any, depth: int) -> Any:
        budget[0] -= 1
        if isinstance(value, dict):
            kept: dict[str, Any] = {}
            if depth >= MAX_DEPTH:
                return kept
            for key, item in value.items():
                if budget[0] <= 0:
                    break
                kept[key] = cut(item, depth + 1)
            return kept
        if isinstance(value, list):
            items: list[Any] = []
            if depth >= MAX_DEPTH:
                return items
            for item in value[:MAX_LIST_ITEMS]:
                if budget[0] <= 0:
                    break
                items.append(cut(item, depth + 1))
            return items
        return value

    return cut(payload, 0)


def evaluate(expression: str, body: bytes) -> Outcome:
    """The whole evaluation a worker process runs: parse, cut, match (the compiled program
    comes from the cache). ``body`` is the delivery's bytes, already known to be JSON."""
    try:
        compiled = cached_filter(expression)
    except FilterError:
        return Outcome.INVALID
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return Outcome.NO_MATCH
    return Outcome.MATCH if compiled.matches(bounded_payload(payload)) else Outcome.NO_MATCH


def _fit_to_cel(value: Any) -> Any:
    """The payload with integers beyond 64 bits turned into doubles, so the rest still works."""
    if isinstance(value, dict):
        return {key: _fit_to_cel(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_fit_to_cel(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return value if _INT64_MIN <= value <= _INT64_MAX else float(value)
    return value
