"""The `agenttasks` user commands, run as users run them: a subprocess with a kubeconfig.

Every command is run against the real control plane and the shared operator; `-o json` is
parsed; failures must be one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from agenttasks.api.meta import ANNOTATION_RUN_NOW, GROUP, LABEL_SCHEDULE, VERSION
from tests.unit.test_kubeconfig import serve_connect_proxy

from .harness import Api, Operator, pod_template, wait_for
from .test_triggers import github_headers, make_secret, make_trigger, post, ready_reason

RESOURCE = "agenttask.agenttasks.io"


def agenttasks(kubeconfig: str, *args: str, timeout: float = 90
               ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agenttasks", *args, "--kubeconfig", kubeconfig],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "NO_COLOR": "1"})


def ok(api: Api, *args: str) -> str:
    result = agenttasks(api.kubeconfig, *args)
    assert result.returncode == 0, f"agenttasks {' '.join(args)}: {result.stderr}"
    return result.stdout


def one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> str:
    """The command failed with exactly one line on stderr containing ``words``."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def task(api: Api, ns: str, name: str, duration: str = "1s", result: str | None = None,
         message: str | None = None, **spec: Any) -> None:
    template = pod_template(duration, result)
    if message:  # the simulated container's termination message, which becomes status.result
        template["metadata"]["annotations"]["sim.agenttasks.io/message"] = message
    api.create_task(ns, {"metadata": {"name": name},
                         "spec": {"template": template, **spec}})


@pytest.fixture
def pipeline(api: Api, ns: str) -> str:
    """extract → transform → load, all Completed."""
    task(api, ns, "extract")
    task(api, ns, "transform", dependsOn=["extract"], priority=3,
         message="wrote s3://bucket/orders.parquet")
    task(api, ns, "load", dependsOn=["transform"])
    api.wait_phase(ns, "load", "Completed", 90)
    return ns


def test_list_table_json_yaml_name_and_filters(api: Api, pipeline: str) -> None:
    ns = pipeline
    table = ok(api, "list", "-n", ns)
    header, *rows = table.splitlines()
    assert header.split() == ["NAME", "PHASE", "PRIORITY", "ATTEMPTS", "PROGRESS", "REASON",
                              "DEADLINE", "AGE", "DISPLAY", "NAME"]
    assert [r.split()[:4] for r in rows] == [["extract", "Completed", "0", "1/1"],
                                             ["load", "Completed", "0", "1/1"],
                                             ["transform", "Completed", "3", "1/1"]]
    assert all("Succeeded" in r for r in rows)

    items = json.loads(ok(api, "list", "-n", ns, "-o", "json"))
    assert [i["metadata"]["name"] for i in items] == ["extract", "load", "transform"]
    assert {i["kind"] for i in items} == {"AgentTask"}
    assert items[1]["status"]["phase"] == "Completed"
    assert items[1]["spec"]["dependsOn"] == ["transform"]
    assert yaml.safe_load(ok(api, "list", "-n", ns, "-o", "yaml")) == items

    assert ok(api, "list", "-n", ns, "-o", "name").splitlines() == [
        f"{RESOURCE}/extract", f"{RESOURCE}/load", f"{RESOURCE}/transform"]
    assert ok(api, "list", "-n", ns, "--phase", "completed", "-o", "name").count("\n") == 3
    empty = agenttasks(api.kubeconfig, "list", "-n", ns, "--phase", "Failed")
    assert (empty.returncode, empty.stdout) == (0, "")
    assert "No agenttasks found" in empty.stderr

    api.patch_task(ns, "load", {"metadata": {"labels": {"stage": "last"}}})
    assert ok(api, "list", "-n", ns, "-l", "stage=last", "-o", "name") == f"{RESOURCE}/load\n"
    everywhere = ok(api, "list", "-A", "-l", "stage=last")
    assert everywhere.splitlines()[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert any(line.split()[:3] == [ns, "load", "Completed"]
               for line in everywhere.splitlines()[1:])


def test_describe_and_tree(api: Api, pipeline: str) -> None:
    ns = pipeline
    text = ok(api, "describe", "transform", "-n", ns)
    for expected in ("Name:", "transform", "Priority:", "3", "Phase:", "Completed (Succeeded)",
                     "Conditions:", "Complete", "Attempts:", "transform-1", "Dependencies:",
                     "Dependents:", "Events:"):
        assert expected in text, f"{expected!r} missing from:\n{text}"
    # A routine success posts no Event: status and its history are the record.
    assert text[text.index("Events:"):].split()[:2] == ["Events:", "<none>"], text
    deps = text[text.index("Dependencies:"):text.index("Dependents:")]
    assert re.search(r"└── extract\s+Completed", deps), deps
    assert re.search(r"└── load\s+Completed", text[text.index("Dependents:"):]), text
    assert "Queue position" not in text  # only for Queued tasks
    result = text[text.index("Result:"):text.index("Events:")]
    assert "attempt: 1" in result and "message: wrote s3://bucket/orders.parquet" in result

    obj = json.loads(ok(api, "describe", "load", "-n", ns, "-o", "json"))
    assert (obj["kind"], obj["metadata"]["name"]) == ("AgentTask", "load")
    assert obj["status"]["history"][0]["result"] == "Succeeded"
    assert ok(api, "describe", "load", "-n", ns, "-o", "name") == f"{RESOURCE}/load\n"

    tree = ok(api, "tree", "transform", "-n", ns)
    assert tree.splitlines() == [
        "Depends on:", "  transform  Completed", "  └── extract  Completed",
        "Needed by:", "  transform  Completed", "  └── load  Completed"]
    up = ok(api, "tree", "load", "-n", ns).splitlines()
    assert up[:4] == ["Depends on:", "  load  Completed", "  └── transform  Completed",
                      "      └── extract  Completed"]


def test_describe_queue_position_and_progress(api: Api, own_ns: str) -> None:
    """No operator watches ``own_ns``: the test writes the statuses an operator would write
    (three Queued tasks, one with progress) and checks what the commands make of them."""
    ns = own_ns
    for name, priority in (("low", 0), ("high", 9), ("mid", 5)):
        task(api, ns, name, priority=priority)
        api.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, ns, "agenttasks", name,
            {"status": {"phase": "Pending", "reason": "Queued",
                        "message": "waiting for capacity: 10/10 running"}})
    task(api, ns, "busy")
    api.custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, ns, "agenttasks", "busy",
        {"status": {"phase": "InProgress", "reason": "Running", "attempts": 1,
                    "progress": {"completed": 2, "total": 5, "percent": 40,
                                 "message": "page 2 of 5"}}})

    ranks = {}
    for name in ("high", "mid", "low"):
        line = next(x for x in ok(api, "describe", name, "-n", ns).splitlines()
                    if "Queue position:" in x)
        match = re.search(r"Queue position:\s+(\d+) of (\d+) Queued \(all namespaces", line)
        assert match, line
        ranks[name] = (int(match[1]), int(match[2]))
    # Other namespaces may hold Queued tasks too: the order of these three is what is known.
    assert ranks["high"][0] < ranks["mid"][0] < ranks["low"][0]
    assert ranks["high"][1] == ranks["mid"][1] == ranks["low"][1] >= 3

    rows = {r.split()[0]: r for r in ok(api, "list", "-n", ns).splitlines()[1:]}
    assert "████░░░░░░  40%" in rows["busy"]
    assert rows["high"].split()[:3] == ["high", "Pending", "9"]
    described = ok(api, "describe", "busy", "-n", ns)
    assert "40%  page 2 of 5" in described
    assert "Queue position" not in described


def _reader(proc: subprocess.Popen[str]) -> Callable[[], list[str]]:
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    return lambda: list(lines)


def test_list_watch_prints_changes(api: Api, ns: str) -> None:
    argv = [sys.executable, "-m", "agenttasks", "list", "-w", "-n", ns,
            "--kubeconfig", api.kubeconfig]
    table = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    as_json = subprocess.Popen([*argv, "-o", "json"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        table_lines, json_lines = _reader(table), _reader(as_json)
        wait_for(lambda: table_lines(), 30, what="the table header")
        task(api, ns, "watched", duration="2s")

        def phases() -> list[str]:
            return [(json.loads(x).get("status") or {}).get("phase", "") for x in json_lines()]

        wait_for(lambda: "Completed" in phases(), 60, what="a Completed line in -o json")
        assert phases()[0] in ("", "Pending", "InProgress")
        assert "InProgress" in phases()
        wait_for(lambda: any(x.split()[:2] == ["watched", "Completed"] for x in table_lines()),
                 10, what="a Completed row in the table")
        assert table_lines()[0].split()[0] == "NAME"
        assert table.poll() is None and as_json.poll() is None  # still watching
    finally:
        for proc in (table, as_json):
            proc.terminate()
            proc.wait(10)


def test_pause_resume_cancel(api: Api, ns: str) -> None:
    task(api, ns, "long", duration="1h")
    api.wait_phase(ns, "long", "InProgress")
    assert ok(api, "pause", "long", "-n", ns) == f"{RESOURCE}/long paused\n"
    assert api.task(ns, "long")["spec"]["paused"] is True
    api.wait_phase(ns, "long", "Paused")
    assert ok(api, "resume", f"{RESOURCE}/long", "-n", ns) == f"{RESOURCE}/long resumed\n"
    assert api.task(ns, "long")["spec"]["paused"] is False
    api.wait_phase(ns, "long", "InProgress")

    task(api, ns, "other", duration="1h", paused=True)
    result = agenttasks(api.kubeconfig, "cancel", "long", "missing", "other", "-n", ns)
    assert result.stdout.splitlines() == [f"{RESOURCE}/long cancelled",
                                          f"{RESOURCE}/other cancelled"]
    one_line_error(result, 'agenttask "missing" not found')
    api.wait_phase(ns, "long", "Cancelled")
    api.wait_phase(ns, "other", "Cancelled")
    again = ok(api, "cancel", "long", "-n", ns)
    assert again == f"{RESOURCE}/long cancelled (already Cancelled: no effect)\n"


def test_rerun_copies_the_spec(api: Api, ns: str) -> None:
    task(api, ns, "flaky", duration="1s", result="Failed", priority=4,
         retries={"limit": 0, "delay": "5s"}, displayName="Flaky agent")
    api.patch_task(ns, "flaky", {"metadata": {"labels": {"team": "crawl"}}})
    api.wait_phase(ns, "flaky", "Failed", reason="JobFailed")

    out = ok(api, "rerun", "flaky", "-n", ns)
    match = re.fullmatch(rf"{RESOURCE}/(flaky-rerun-[a-z0-9]{{5}}) created\n", out)
    assert match, out
    old, new = api.task(ns, "flaky"), api.task(ns, match[1])
    assert new["spec"] == old["spec"]
    assert new["metadata"]["labels"] == {"team": "crawl", "agenttasks.io/rerun-of": "flaky"}
    assert api.wait_phase(ns, match[1], "Failed", reason="JobFailed")["attempts"] == 1

    created = json.loads(ok(api, "rerun", "flaky", "--name", "flaky-again", "-n", ns,
                            "-o", "json"))
    assert created["metadata"]["name"] == "flaky-again"
    assert created["metadata"]["labels"]["agenttasks.io/rerun-of"] == "flaky"
    assert "status" not in created or not created["status"].get("attempts")
    one_line_error(agenttasks(api.kubeconfig, "rerun", "flaky", "--name", "flaky-again",
                              "-n", ns), "already exists")


def _schedule(api: Api, ns: str, name: str) -> None:
    api.custom.create_namespaced_custom_object(GROUP, VERSION, ns, "agenttaskschedules", {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "AgentTaskSchedule",
        "metadata": {"name": name},
        "spec": {"schedule": "0 3 1 1 *", "timeZone": "Europe/Berlin",
                 "taskTemplate": {"spec": {"template": pod_template("1s")}}}})


def _get_schedule(api: Api, ns: str, name: str) -> dict[str, Any]:
    return dict(api.custom.get_namespaced_custom_object(GROUP, VERSION, ns,
                                                        "agenttaskschedules", name))


def test_run_a_schedule_now(api: Api, ns: str) -> None:
    _schedule(api, ns, "yearly")
    out = ok(api, "run", "yearly", "-n", ns)
    token = _get_schedule(api, ns, "yearly")["metadata"]["annotations"][ANNOTATION_RUN_NOW]
    name = f"yearly-manual-{hashlib.sha256(token.encode()).hexdigest()[:10]}"
    assert out == f"{RESOURCE}/{name} created\n"
    created = api.task(ns, name)
    assert created["metadata"]["labels"][LABEL_SCHEDULE] == "yearly"
    api.wait_phase(ns, name, "Completed", 60)

    second = json.loads(ok(api, "run", "yearly", "-n", ns, "-o", "json"))
    assert second["kind"] == "AgentTask" and second["metadata"]["name"] != name
    one_line_error(agenttasks(api.kubeconfig, "run", "nope", "-n", ns),
                   'agenttaskschedule "nope" not found')


def test_schedules_and_triggers(api: Api, ns: str, operator: Operator) -> None:
    _schedule(api, ns, "yearly")
    make_secret(api, ns, "gh", "secret", "s3cret")
    make_trigger(api, ns, "pr", secret="gh", key="secret", signature="github")
    wait_for(lambda: (_get_schedule(api, ns, "yearly").get("status") or {})
             .get("nextScheduleTime"), 30, what="nextScheduleTime")
    wait_for(lambda: ready_reason(api, ns, "pr") == "Ready" or None, 30, what="trigger ready")
    status, _, _ = post(operator.port, f"/hooks/{ns}/pr", b'{"n": 1}',
                        github_headers(b'{"n": 1}', "delivery-1", secret="s3cret"))
    assert status == 202
    status, _, _ = post(operator.port, f"/hooks/{ns}/pr", b'{"n": 1}',
                        github_headers(b'{"n": 1}', "delivery-1", secret="s3cret"))
    assert status == 202
    status, _, _ = post(operator.port, f"/hooks/{ns}/pr", b"{}",
                        github_headers(b"{}", "delivery-2", secret="wrong"))
    assert status == 404  # a bad signature answers as an unknown trigger (docs/trigger.md)

    header, row = ok(api, "schedules", "-n", ns).splitlines()
    assert header.split()[:4] == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND"]
    assert re.match(r"yearly\s+0 3 1 1 \*\s+Europe/Berlin\s+false\s+0\s+-\s+in \d+", row), row
    assert row.split()[-2] == "Scheduled"
    schedules = json.loads(ok(api, "schedules", "-n", ns, "-o", "json"))
    assert [s["metadata"]["name"] for s in schedules] == ["yearly"]
    assert schedules[0]["status"]["nextScheduleTime"]
    assert ok(api, "schedules", "-n", ns, "-o", "name") == (
        "agenttaskschedule.agenttasks.io/yearly\n")

    def counted() -> dict[str, Any] | None:
        items = json.loads(ok(api, "triggers", "-n", ns, "-o", "json"))
        deliveries = (items[0].get("status") or {}).get("deliveries") or {}
        return items[0] if deliveries.get("rejected") and deliveries.get("duplicate") else None

    trigger = wait_for(counted, 30, interval=1, what="delivery counters in status")
    assert trigger["status"]["url"] == f"/hooks/{ns}/pr"
    assert trigger["status"]["deliveries"] == {"accepted": 1, "duplicate": 1, "rejected": 1}
    header, row = ok(api, "triggers", "-n", ns).splitlines()
    assert header.split() == ["NAME", "SIGNATURE", "URL", "ACCEPTED", "DUPLICATE", "REJECTED",
                              "READY", "AGE"]
    assert row.split()[:7] == ["pr", "github", f"/hooks/{ns}/pr", "1", "1", "1", "Ready"]
    assert ok(api, "triggers", "-n", ns, "-o", "name") == "agenttasktrigger.agenttasks.io/pr\n"


def test_logs_of_a_kwok_pod(api: Api, ns: str) -> None:
    """kwok's nodes have no kubelet: the API server answers a pod log request with 500
    ("dial tcp :10250: connect: connection refused"). The command says so in one line."""
    task(api, ns, "agent", duration="1h")
    api.wait_phase(ns, "agent", "InProgress")
    wait_for(lambda: api.core.list_namespaced_pod(ns, label_selector="job-name=agent-1").items,
             30, what="the attempt's pod")
    for args in (("logs", "agent"), ("logs", "agent", "-f"), ("logs", "agent", "--attempt", "1")):
        line = one_line_error(agenttasks(api.kubeconfig, *args, "-n", ns, timeout=60),
                              "logs of pod agent-1-", "are not available", "kubelet")
        assert "10250" in line
    one_line_error(agenttasks(api.kubeconfig, "logs", "agent", "--attempt", "2", "-n", ns),
                   "agenttask agent has no attempt 2")
    task(api, ns, "held", paused=True)
    api.wait_phase(ns, "held", "Paused")
    one_line_error(agenttasks(api.kubeconfig, "logs", "held", "-n", ns),
                   "agenttask held has not started an attempt yet")


def test_errors_are_one_line(api: Api, ns: str, tmp_path: Path) -> None:
    for args in (("describe", "ghost"), ("tree", "ghost"), ("logs", "ghost"),
                 ("pause", "ghost"), ("rerun", "ghost")):
        one_line_error(agenttasks(api.kubeconfig, *args, "-n", ns),
                       'agenttask "ghost" not found', ns)
    one_line_error(agenttasks(str(tmp_path / "missing"), "list", "-n", ns),
                   "kubeconfig", "does not exist")

    # A ServiceAccount without any permission, with a token from the TokenRequest API.
    api.core.create_namespaced_service_account(ns, {"metadata": {"name": "nobody"}})
    token = api.core.create_namespaced_service_account_token(
        "nobody", ns, {"spec": {"expirationSeconds": 3600}}).status.token
    config = yaml.safe_load(Path(api.kubeconfig).read_text())
    config["users"] = [{"name": "nobody", "user": {"token": token}}]
    for context in config["contexts"]:
        context["context"]["user"] = "nobody"
    nobody = tmp_path / "nobody.kubeconfig"
    nobody.write_text(yaml.safe_dump(config))
    for args in (("list",), ("describe", "x"), ("schedules",), ("run", "x")):
        one_line_error(agenttasks(str(nobody), *args, "-n", ns), "forbidden",
                       f"system:serviceaccount:{ns}:nobody")


def test_display_names_in_lists(api: Api, own_ns: str) -> None:
    """``agenttasks list`` and ``kubectl get agenttasks`` show spec.displayName (empty when
    there is none)."""
    task(api, own_ns, "report", displayName="Daily Sales Report - US Region")
    task(api, own_ns, "unnamed")
    rows = ok(api, "list", "-n", own_ns).splitlines()[1:]
    assert rows[0].split()[0] == "report"
    assert rows[0].endswith("  Daily Sales Report - US Region"), rows[0]
    assert rows[1].split()[0] == "unnamed" and rows[1].split()[-1] != "Region"

    from agenttasks.devcluster.toolchain import binary

    kubectl = binary("kubectl")
    if not kubectl.exists():
        pytest.skip("the control plane's kubectl is not built")
    listed = subprocess.run([str(kubectl), "get", "agenttasks", "-n", own_ns,
                             "--kubeconfig", api.kubeconfig], capture_output=True, text=True,
                            timeout=60)
    assert listed.returncode == 0, listed.stderr
    header, *lines = listed.stdout.splitlines()
    assert "DISPLAY NAME" in header
    assert any(line.startswith("report ") and "Daily Sales Report - US Region" in line
               for line in lines), listed.stdout


@pytest.fixture
def connect_proxy() -> Iterator[tuple[int, list[str]]]:
    """An HTTP CONNECT proxy on 127.0.0.1, in a thread: (port, the CONNECT lines it saw)."""
    seen: list[str] = []
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(serve_connect_proxy(seen))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield server.sockets[0].getsockname()[1], seen
    finally:
        loop.call_soon_threadsafe(server.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def test_through_a_proxy_with_a_tls_server_name(api: Api, pipeline: str, tmp_path: Path,
                                                connect_proxy: tuple[int, list[str]]) -> None:
    """The kubeconfig's proxy-url and tls-server-name, against the real API server: list,
    describe and a watch go through the proxy, and the certificate is checked against the
    name given (the local API server's certificate names ``kubernetes``)."""
    port, seen = connect_proxy
    config = yaml.safe_load(Path(api.kubeconfig).read_text())
    server = config["clusters"][0]["cluster"]["server"]
    for cluster in config["clusters"]:
        cluster["cluster"].update({"proxy-url": f"http://127.0.0.1:{port}",
                                   "tls-server-name": "kubernetes"})
    proxied = tmp_path / "proxied.kubeconfig"
    proxied.write_text(yaml.safe_dump(config))
    names = agenttasks(str(proxied), "list", "-n", pipeline, "-o", "name")
    assert names.returncode == 0, names.stderr
    assert f"{RESOURCE}/load" in names.stdout.splitlines()
    assert agenttasks(str(proxied), "describe", "load", "-n", pipeline).returncode == 0
    target = server.removeprefix("https://")
    assert seen and all(line == f"CONNECT {target} HTTP/1.1" for line in seen), seen

    for cluster in config["clusters"]:
        cluster["cluster"]["tls-server-name"] = "not-the-apiserver.example"
    proxied.write_text(yaml.safe_dump(config))
    one_line_error(agenttasks(str(proxied), "list", "-n", pipeline),
                   "cannot reach the API server", "certificate verify failed")


def test_kubectl_plugin(api: Api, pipeline: str) -> None:
    """``kubectl agenttasks`` finds the kubectl-agenttasks entry point on PATH."""
    from agenttasks.devcluster.toolchain import binary

    kubectl = binary("kubectl")
    if not kubectl.exists():
        pytest.skip("the control plane's kubectl is not built")
    scripts = Path(sys.executable).parent
    if not (scripts / "kubectl-agenttasks").exists():
        pytest.skip("kubectl-agenttasks is not installed next to the interpreter")
    result = subprocess.run(
        [str(kubectl), "agenttasks", "list", "-n", pipeline, "-o", "name",
         "--kubeconfig", api.kubeconfig], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}"})
    assert result.returncode == 0, result.stderr
    assert f"{RESOURCE}/load" in result.stdout.splitlines()
