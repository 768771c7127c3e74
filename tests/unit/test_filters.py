import json
from typing import Any

import pytest

from agenttasks.core.filters import (
    FILTER_CACHE_SIZE,
    MAX_DEPTH,
    MAX_LIST_ITEMS,
    MAX_VALUES,
    FilterError,
    Outcome,
    bounded_payload,
    cached_filter,
    compile_filter,
    evaluate,
)

PULL_REQUEST: dict[str, Any] = {
    "action": "opened",
    "number": 42,
    "pull_request": {"base": {"ref": "main"}, "draft": False, "title": "Fix crash"},
    "labels": ["bug", "ui"],
    "sender": None,
}


@pytest.mark.parametrize("expression", [
    'body.action == "opened" && body.pull_request.base.ref == "main"',
    '"bug" in body.labels',
    "body.number == 42",
    "body.number > 10 && !body.pull_request.draft",
    'body.pull_request.title.startsWith("Fix")',
    'body.labels.exists(l, l == "ui")',
    "size(body.labels) == 2",
    'has(body.pull_request.base) && !has(body.missing)',
    "body.sender == null",
    'body.missing == "x" || body.action == "opened"',
])
def test_matches(expression: str) -> None:
    assert compile_filter(expression).matches(PULL_REQUEST)


@pytest.mark.parametrize("expression", [
    'body.action == "closed"',
    'body.action == "opened" && body.pull_request.base.ref == "develop"',
    '"docs" in body.labels',
    "body.number == 41",
])
def test_does_not_match(expression: str) -> None:
    assert not compile_filter(expression).matches(PULL_REQUEST)


@pytest.mark.parametrize("expression", [
    'body.missing == "x"',  # a missing field
    'body.pull_request.head.ref == "main"',
    "body.labels[5] == \"x\"",
    "body.number == 42.0",  # int against double: a type error in CEL
    'body.action + 1 == 2',
    "body.action",  # not a boolean
    "body.number",
    "nobody.action == 1",  # only `body` is bound
    "1 / 0 == 1",
])
def test_evaluation_errors_mean_no_match(expression: str) -> None:
    assert not compile_filter(expression).matches(PULL_REQUEST)


@pytest.mark.parametrize("payload", [None, [], "text", 3, {}])
def test_odd_payloads_do_not_match_or_raise(payload: Any) -> None:
    assert not compile_filter('body.action == "opened"').matches(payload)


def test_whole_body_comparisons() -> None:
    assert compile_filter('body == "ping"').matches("ping")
    assert compile_filter("size(body) == 0").matches([])


def test_huge_integers_do_not_break_the_rest_of_the_payload() -> None:
    payload = {"id": 2**80, "action": "opened"}
    assert compile_filter('body.action == "opened"').matches(payload)
    assert compile_filter("body.id > 1.0").matches(payload)


def test_absurd_nesting_does_not_raise() -> None:
    deep = "(" * 400 + "true" + ")" * 400
    try:
        compiled = compile_filter(deep)
    except FilterError:
        return
    assert compiled.matches({}) in (True, False)


@pytest.mark.parametrize("expression", [
    "", "   ", 'body.action ==', 'body.action == "opened', "body.(", "&& true", "body..x",
])
def test_invalid_expressions(expression: str) -> None:
    with pytest.raises(FilterError) as raised:
        compile_filter(expression)
    assert str(raised.value)


def test_filter_keeps_its_expression() -> None:
    expression = '"bug" in body.labels'
    compiled = compile_filter(expression)
    assert compiled.expression == expression
    assert expression in repr(compiled)


# --- the cost rules ---------------------------------------------------------------------------

@pytest.mark.parametrize("expression", [
    'body.commits.exists(c, c.modified.exists(f, f.startsWith("docs/")))',  # two levels
    'duration("1h30m") > duration("1s")',
    'timestamp("2024-01-01T00:00:00Z") < timestamp("2025-01-01T00:00:00Z")',
    'body.title.matches("^(fix|feat)(\\\\(.+\\\\))?: ")',  # re2: linear whatever the pattern
    " || ".join(f"body.l{i}.exists(x, x == 1)" for i in range(8)),
])
def test_affordable_expressions_compile(expression: str) -> None:
    compile_filter(expression)


@pytest.mark.parametrize("expression, rule", [
    ("body.a.map(x, body.a.map(y, body.a.map(z, z)))", "nested more than 2 deep"),
    ("body.a.exists(x, body.a.all(y, body.a.filter(z, z == x).size() > 0))",
     "nested more than 2 deep"),
    (" || ".join(f"body.l{i}.exists(x, x == 1)" for i in range(9)), "more than 8"),
    ("duration(body.ttl) > duration('1s')", "duration() takes only a string literal"),
    ("body.ttl.duration() > duration('1s')", "duration() takes only a string literal"),
    ('duration("1" + "s") > duration("0s")', "string literal"),
    ('duration("' + "1" * 17 + 's") > duration("0s")', "at most 16"),
    ("timestamp(body.at) > timestamp('2024-01-01T00:00:00Z')", "timestamp() takes only"),
    ("body.a == 1 || " * 200 + "true", "longer than 2048"),
])
def test_costly_expressions_are_refused(expression: str, rule: str) -> None:
    with pytest.raises(FilterError) as raised:
        compile_filter(expression)
    assert rule in str(raised.value)


def test_admission_refuses_a_costly_filter() -> None:
    from agenttasks.core.admission import check_trigger

    spec = {"secretRef": {"name": "s", "key": "k"}, "filter": "duration(body.d) > duration('1s')",
            "taskTemplate": {"spec": {"template": {"spec": {"containers": []}}}}}
    assert "too costly" in (check_trigger(spec) or "")


# --- the cache ---------------------------------------------------------------------------------

def test_compiled_programs_are_cached_by_expression() -> None:
    cached_filter.cache_clear()
    first = cached_filter('body.action == "opened"')
    assert cached_filter('body.action == "opened"') is first
    assert cached_filter('body.action == "closed"') is not first
    info = cached_filter.cache_info()
    assert (info.hits, info.misses, info.maxsize) == (1, 2, FILTER_CACHE_SIZE)


def test_the_cache_is_bounded() -> None:
    cached_filter.cache_clear()
    for n in range(FILTER_CACHE_SIZE + 10):
        cached_filter(f"body.n == {n}")
    assert cached_filter.cache_info().currsize == FILTER_CACHE_SIZE


def test_invalid_expressions_are_not_cached_as_valid() -> None:
    for _ in range(2):
        with pytest.raises(FilterError):
            cached_filter("body.a ==")


# --- the slice of the payload -----------------------------------------------------------------

def test_the_payload_is_cut_to_a_bounded_slice() -> None:
    payload = {"first": 1, "items": list(range(MAX_LIST_ITEMS + 5)),
               "many": {f"k{i}": i for i in range(MAX_VALUES)}, "last": "x"}
    cut = bounded_payload(payload)
    assert cut["first"] == 1 and cut["items"] == list(range(MAX_LIST_ITEMS))
    assert "last" not in cut  # past the budget of values, in document order

    def count(value: Any) -> int:
        if isinstance(value, dict):
            return 1 + sum(count(v) for v in value.values())
        if isinstance(value, list):
            return 1 + sum(count(v) for v in value)
        return 1

    assert count(cut) <= MAX_VALUES + 1


def test_deep_nesting_is_cut() -> None:
    deep: Any = "leaf"
    for _ in range(MAX_DEPTH + 10):
        deep = {"d": deep}
    cut = bounded_payload(deep)
    depth = 0
    while isinstance(cut, dict) and cut:
        cut, depth = cut["d"], depth + 1
    assert depth == MAX_DEPTH


def test_small_payloads_are_seen_whole() -> None:
    assert bounded_payload(PULL_REQUEST) == PULL_REQUEST


def test_evaluate_is_what_a_worker_runs() -> None:
    body = json.dumps(PULL_REQUEST).encode()
    assert evaluate('body.action == "opened"', body) == Outcome.MATCH
    assert evaluate('body.action == "closed"', body) == Outcome.NO_MATCH
    assert evaluate("body.a ==", body) == Outcome.INVALID
    assert evaluate("true", b"not json") == Outcome.NO_MATCH
