from typing import Any

import pytest

from agenttasks.core.filters import FilterError, compile_filter

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
