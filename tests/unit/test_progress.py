"""Agent progress reports: parsing, coalescing, the stdlib helper (its token read from the
projected file for every report), the lifecycle."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agenttasks import progress as helper
from agenttasks.api.task import AgentTaskSpec, AgentTaskStatus, Progress
from agenttasks.core.facts import JobFacts, TaskFacts
from agenttasks.core.lifecycle import decide
from agenttasks.core.progress_reports import ReportError, parse_report
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
    for name in (helper.URL_ENV, helper.TOKEN_ENV, helper.TOKEN_FILE_ENV):
        monkeypatch.delenv(name, raising=False)
    assert helper.report(1, 2, "x") is False


class Operator:
    """An HTTP server that answers 202 to every POST and keeps what it was sent."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []
        seen = self.seen

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                seen.append((self.headers["Authorization"], body))
                self.send_response(202)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/progress/n/t"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def operator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Operator]:
    for name in (helper.TOKEN_ENV, helper.TOKEN_FILE_ENV):
        monkeypatch.delenv(name, raising=False)
    served = Operator()
    monkeypatch.setenv(helper.URL_ENV, served.url)
    yield served
    served.close()


def test_helper_posts_with_the_token_from_the_file_read_for_every_report(
        operator: Operator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("first\n")
    monkeypatch.setenv(helper.TOKEN_FILE_ENV, str(token_file))
    monkeypatch.setenv(helper.TOKEN_ENV, "from-an-older-operator")  # the file wins
    assert helper.report(2, 4, "half") is True
    token_file.write_text("rotated")  # the kubelet renewed it
    assert helper.report(3, 4) is True
    assert operator.seen == [("Bearer first", {"completed": 2, "total": 4, "message": "half"}),
                             ("Bearer rotated", {"completed": 3, "total": 4, "message": None})]


def test_helper_takes_the_token_variable_of_older_operators_without_a_file(
        operator: Operator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(helper.TOKEN_ENV, "tok")
    assert helper.report(2, 4, "half") is True
    monkeypatch.setenv(helper.TOKEN_FILE_ENV, str(tmp_path / "missing"))  # not mounted
    assert helper.report(3, 4) is True
    (tmp_path / "empty").write_text("")
    monkeypatch.setenv(helper.TOKEN_FILE_ENV, str(tmp_path / "empty"))
    assert helper.report(4, 4) is True
    assert [auth for auth, _body in operator.seen] == ["Bearer tok"] * 3


def test_helper_without_any_token_sends_nothing_and_never_raises(
        operator: Operator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(helper.TOKEN_FILE_ENV, str(tmp_path))  # a directory: unreadable
    assert helper.report(1, 2) is False
    assert operator.seen == []
    (tmp_path / "token").write_text("tok")
    monkeypatch.setenv(helper.TOKEN_FILE_ENV, str(tmp_path / "token"))
    monkeypatch.setenv(helper.URL_ENV, "http://127.0.0.1:1/progress/n/t")  # nobody there
    assert helper.report(1, 2) is False


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


def test_a_pod_learns_its_item_from_the_attempts_items_and_its_index(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from agenttasks import progress

    monkeypatch.delenv(progress.ITEMS_ENV, raising=False)
    monkeypatch.delenv(progress.INDEX_ENV, raising=False)
    assert progress.item() is None  # not a batch
    monkeypatch.setenv(progress.INDEX_ENV, "4")
    assert progress.item() == 4  # a Job without item lists: the index is the item
    monkeypatch.setenv(progress.ITEMS_ENV, "3,7,10-12,20")
    assert progress.item() == 12
    for index, expected in ((0, 3), (1, 7), (2, 10), (5, 20), (6, None)):
        monkeypatch.setenv(progress.INDEX_ENV, str(index))
        assert progress.item() == expected
