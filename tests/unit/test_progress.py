"""Agent progress reports: parsing, tokens, coalescing, the stdlib helper, the lifecycle."""

from __future__ import annotations

import http.server
import json
import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from agenttasks import progress as helper
from agenttasks.api.task import AgentTaskSpec, AgentTaskStatus, Progress
from agenttasks.core.facts import JobFacts, TaskFacts
from agenttasks.core.lifecycle import decide
from agenttasks.core.progress_reports import ReportError, parse_report, token_matches
from agenttasks.inbox.agent_reports import Coalescer

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def test_parse_report_computes_percent_and_keeps_attempt() -> None:
    got = parse_report({"completed": 3, "total": 8, "message": "chapter 3"}, attempt=2)
    assert (got.completed, got.total, got.percent, got.message, got.attempt) == \
        (3, 8, 37, "chapter 3", 2)
    assert parse_report({"completed": 9, "total": 8}, 1).percent == 100
    assert parse_report({}, 1).percent == 0


@pytest.mark.parametrize("body", [[], {"completed": -1}, {"total": "x"}, {"message": 3},
                                  {"completed": True}])
def test_bad_reports_are_refused(body: Any) -> None:
    with pytest.raises(ReportError):
        parse_report(body, 1)


def test_tokens_compare_exactly() -> None:
    assert token_matches("abc", "abc")
    assert not token_matches("abd", "abc") and not token_matches("", "")


def test_coalescer_writes_at_most_once_per_interval() -> None:
    c = Coalescer(interval_s=1.0)
    key = ("ns", "t")
    assert c.offer(key, Progress(completed=1), now=10.0) == 0
    assert c.take(key, 10.0) == Progress(completed=1)
    assert c.offer(key, Progress(completed=2), now=10.2) == pytest.approx(0.8)
    assert c.offer(key, Progress(completed=3), now=10.5) == pytest.approx(0.5)
    assert c.take(key, 10.6) is None
    assert c.take(key, 11.0) == Progress(completed=3)  # only the newest is written


def test_helper_is_quiet_without_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(helper.URL_ENV, raising=False)
    monkeypatch.delenv(helper.TOKEN_ENV, raising=False)
    assert helper.report(1, 2, "x") is False


def test_helper_posts_with_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.headers["Authorization"], body))
            self.send_response(202)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.handle_request, daemon=True).start()
    monkeypatch.setenv(helper.URL_ENV, f"http://127.0.0.1:{server.server_port}/progress/n/t")
    monkeypatch.setenv(helper.TOKEN_ENV, "tok")
    assert helper.report(2, 4, "half") is True
    assert seen == [("Bearer tok", {"completed": 2, "total": 4, "message": "half"})]
    server.server_close()


def _task(status: AgentTaskStatus) -> TaskFacts:
    spec = AgentTaskSpec.model_validate({"template": {"spec": {"containers": []}}})
    return TaskFacts("ns", "t", "uid", 1, T0, spec, status)


def test_lifecycle_keeps_the_agents_progress_for_its_attempt() -> None:
    job = JobFacts(name="t-1", attempt=1, created=T0, owner_uid="uid", active=1)
    reported = Progress(completed=5, total=10, percent=50, message="m", attempt=1)
    status = AgentTaskStatus(phase="InProgress", attempts=1, job_name="t-1", progress=reported)
    assert decide(_task(status), [job], T0).status.progress == reported
    stale = reported.model_copy(update={"attempt": 0})
    status = status.model_copy(update={"progress": stale})
    assert decide(_task(status), [job], T0).status.progress != stale
