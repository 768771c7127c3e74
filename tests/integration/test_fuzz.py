"""Fuzzed manifests of the three kinds, submitted to the real kube-apiserver while our own
operator (with its admission webhook) runs.

Half the cases go to a namespace where the admission webhook is registered, half to one
where it is not, so that both the webhook and the operator's own checks meet every kind of
invalid spec. Promises checked:

- an invalid manifest is refused by the API server (schema, CEL or webhook: HTTP 400, 403 or
  422) or is marked invalid by the operator (a task Failed with InvalidSpec, or
  DependencyCycle for dependsOn cycles; a schedule Ready=False InvalidSchedule; a trigger
  Ready=False InvalidSpec, InvalidFilter or InvalidParams);
- a valid or edge manifest is accepted and never marked invalid, and reaches a verdict
  (a task terminal or deliberately held; a schedule or trigger Ready=True);
- the operator never exits, its /healthz answers, a canary task created during the burst and
  one created after it both complete;
- operator errors (see tests/fuzz/oplog.py: ERROR/CRITICAL log records and stray tracebacks
  in test-artifacts/operator-fuzz.log, written during this test) number 0.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fuzz import schedules, tasks, triggers
from tests.fuzz.cases import Case, Expect, Kind
from tests.fuzz.drawing import draw_batches
from tests.fuzz.oplog import OperatorLog
from tests.fuzz.outcomes import Outcome, Tally, Verdict
from tests.fuzz.submit import await_verdicts, submit
from tests.integration.admission_webhook import registered, serving_certificates

from .harness import Api, Operator, free_port, pod_template

VERDICT_TIMEOUT = 90


@pytest.fixture
def fuzz_env(api: Api, tmp_path: Path) -> Iterator[tuple[Operator, OperatorLog, str, str]]:
    """Our own operator watching two fresh namespaces; the admission webhook for the second."""
    if "127.0.0.1" not in api.client.configuration.host:
        pytest.skip("the API server must reach the operator on 127.0.0.1 (local control plane)")
    plain, admitted = api.create_namespace("fuzz"), api.create_namespace("fuzz")
    for namespace in (plain, admitted):
        for secret in triggers.secrets():
            api.core.create_namespaced_secret(namespace, secret)
    ca = serving_certificates(tmp_path)
    port = free_port()
    operator = Operator(api.operator_kubeconfig, [plain, admitted], "fuzz", extra=[
        "--admission-port", str(port), "--admission-cert-dir", str(tmp_path)])
    log = OperatorLog(operator.log_path).start()
    operator.start()
    try:
        with registered(api, ca, port, [admitted]):
            yield operator, log, plain, admitted
    finally:
        operator.stop()
        api.delete_namespace(plain)
        api.delete_namespace(admitted)


def _canary(api: Api, namespace: str, name: str) -> str:
    api.create_task(namespace, {"metadata": {"name": name},
                                "spec": {"template": pod_template("1s")}})
    return name


def _cycle(api: Api, namespace: str, admitted: bool) -> list[str]:
    """a → b, then b → a; returns what is wrong with how the cycle was caught."""
    def task(name: str, dep: str) -> Case:
        return Case(Kind.TASK, {"template": pod_template("0s"), "dependsOn": [dep]},
                    Expect.INVALID, "dependency cycle", name=name)

    first = submit(api, namespace, task("cycle-a", "cycle-b"))
    second = submit(api, namespace, task("cycle-b", "cycle-a"))
    if admitted:
        ok = second.verdict == Verdict.REFUSED and "cycle" in second.detail
        return [] if ok else [f"{namespace}: cycle-b not refused: {second.detail}"]
    # cycle-a is rightly held (waiting for cycle-b) until cycle-b exists and its verdict
    # reaches cycle-a's next pass; await_verdicts stops at a held verdict, so poll again
    # until both are settled as invalid, or the time is up.
    deadline = time.monotonic() + 30
    while True:
        await_verdicts(api, {namespace: [first, second]}, max(0.0, deadline - time.monotonic()))
        settled = all(o.verdict == Verdict.INVALID for o in (first, second))
        if settled or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return [f"{namespace}/{o.case.name}: {o.verdict} {o.detail}" for o in (first, second)
            if o.verdict != Verdict.INVALID]


def test_fuzzed_manifests(api: Api, fuzz_env: tuple[Operator, OperatorLog, str, str],
                          capsys: pytest.CaptureFixture[str]) -> None:
    operator, log, plain, admitted = fuzz_env
    started = time.monotonic()
    cases = (draw_batches(tasks.batches(), 0) + draw_batches(schedules.batches(), 1000)
             + draw_batches(triggers.batches(), 2000))
    tally = Tally()
    accepted: dict[str, list[Outcome]] = {plain: [], admitted: []}
    canaries: list[tuple[str, str]] = []
    for i, case in enumerate(cases):
        namespace = admitted if i % 2 else plain
        outcome = submit(api, namespace, case)
        tally.outcomes.append(outcome)
        if outcome.detail == "accepted":
            accepted[namespace].append(outcome)
        if i == len(cases) // 2:
            canaries.append((plain, _canary(api, plain, "canary-during")))
    submitted_in = time.monotonic() - started
    cycle_problems = _cycle(api, plain, admitted=False) + _cycle(api, admitted, admitted=True)
    await_verdicts(api, accepted, VERDICT_TIMEOUT)
    canaries.append((admitted, _canary(api, admitted, "canary-after")))
    for namespace, name in canaries:
        api.wait_phase(namespace, name, "Completed", timeout=60)
    assert not operator.exited(), f"the operator exited; see {operator.log_path}"
    with urllib.request.urlopen(f"http://127.0.0.1:{operator.port}/healthz", timeout=5) as r:
        assert r.status == 200
    errors = log.errors()
    with capsys.disabled():
        print(tally.table(len(errors)))
        print(f"  submitted in {submitted_in:.0f}s; all verdicts and canaries after "
              f"{time.monotonic() - started:.0f}s")
    problems = tally.problems() + cycle_problems
    assert not problems, "\n".join(problems)
    assert not errors, f"{len(errors)} operator errors:\n" + "\n".join(errors[:20])
    assert tally.counts()[Verdict.RAN] > 0 and tally.counts()[Verdict.REFUSED] > 0
