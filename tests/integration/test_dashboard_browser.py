"""The dashboard in a real headless Chromium (Debian's, driven by Playwright): sign in with a
ServiceAccount token, watch tasks change phase live, pause one, and be refused an action with
a token whose RBAC lacks the patch right. Screenshots go to test-artifacts/dashboard-*.png.

Chromium comes from tests/browser/ensure_chromium.sh (apt-get, as root); when it cannot be
had, the test is skipped with the reason, never passed silently.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agenttasks.api.meta import GROUP, VERSION

from .harness import ARTIFACTS, REPO, Api, Operator, pod_template, wait_for

CHROMIUM = Path("/usr/bin/chromium")
ENSURE = REPO / "tests" / "browser" / "ensure_chromium.sh"
LIVE_TIMEOUT_MS = 60_000


@pytest.fixture(scope="session")
def chromium() -> str:
    if not CHROMIUM.exists():
        result = subprocess.run([str(ENSURE)], capture_output=True, text=True, timeout=1200,
                                check=False)
        if result.returncode != 0 or not CHROMIUM.exists():
            reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
            pytest.skip(f"{CHROMIUM} is missing and {ENSURE.name} could not install it "
                        f"(exit {result.returncode}: {reason})")
    return str(CHROMIUM)


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    # Module scope: Playwright's sync API keeps an event loop running in this thread until
    # it stops, which would break every later test that calls asyncio.run().
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed: pip install -e '.[test]'")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium)
        try:
            yield launched
        finally:
            launched.close()


def make_user(api: Api, namespace: str, name: str, rules: list[dict[str, Any]]) -> str:
    """A ServiceAccount with a Role of ``rules`` in ``namespace``; returns a TokenRequest
    token for it."""
    api.core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
    rbac = "rbac.authorization.k8s.io"
    api.custom.create_namespaced_custom_object(rbac, "v1", namespace, "roles", {
        "apiVersion": f"{rbac}/v1", "kind": "Role", "metadata": {"name": name},
        "rules": rules})
    api.custom.create_namespaced_custom_object(rbac, "v1", namespace, "rolebindings", {
        "apiVersion": f"{rbac}/v1", "kind": "RoleBinding", "metadata": {"name": name},
        "roleRef": {"apiGroup": rbac, "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]})
    request = api.core.create_namespaced_service_account_token(
        name, namespace, {"spec": {"expirationSeconds": 3600}})
    return str(request.status.token)


READ = ["get", "list", "watch"]


def sign_in(page: Any, token: str, who: str) -> None:
    from playwright.sync_api import expect

    page.fill("#token", token)
    page.click("#login button[type=submit]")
    expect(page.locator("#who")).to_have_text(f"Signed in as {who}")
    expect(page.locator("#live")).to_contain_text("live", timeout=LIVE_TIMEOUT_MS)


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


@pytest.mark.timeout(600)
def test_dashboard_live_updates_pause_and_refusal(api: Api, ns: str, operator: Operator,
                                                  browser: Any) -> None:
    from playwright.sync_api import expect

    writer = make_user(api, ns, "dash-writer", [
        {"apiGroups": ["agenttasks.io"], "resources": ["agenttasks"],
         "verbs": [*READ, "patch"]},
        {"apiGroups": ["agenttasks.io"], "resources": ["agenttaskschedules"], "verbs": READ},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["list"]}])
    reader = make_user(api, ns, "dash-reader", [
        {"apiGroups": ["agenttasks.io"], "resources": ["agenttasks"], "verbs": READ}])
    base = f"http://127.0.0.1:{operator.port}"
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    try:
        page.goto(f"{base}/?namespace={ns}")
        expect(page.locator("#login")).to_be_visible()
        expect(page.locator("#content")).to_contain_text("Sign in")
        sign_in(page, writer, f"system:serviceaccount:{ns}:dash-writer")
        page.evaluate("window.__sameDocument = 'yes'")  # gone if the page reloads

        # A task created after the page opened appears and changes phase live.
        api.create_task(ns, {"metadata": {"name": "quick"},
                             "spec": {"template": pod_template("5s")}})
        quick = page.locator('tr.task[data-name="quick"]')
        expect(quick).to_have_attribute("data-phase", "InProgress", timeout=LIVE_TIMEOUT_MS)
        expect(quick).to_have_attribute("data-phase", "Completed", timeout=LIVE_TIMEOUT_MS)
        expect(quick.locator("progress")).to_have_attribute("value", "100")
        assert page.evaluate("window.__sameDocument") == "yes"

        # Pause a long task from its row.
        api.create_task(ns, {"metadata": {"name": "long"},
                             "spec": {"template": pod_template("1h")}})
        api.create_task(ns, {"metadata": {"name": "after-long"},
                             "spec": {"template": pod_template("1s"), "dependsOn": ["long"]}})
        long_row = page.locator('tr.task[data-name="long"]')
        expect(long_row).to_have_attribute("data-phase", "InProgress", timeout=LIVE_TIMEOUT_MS)
        shot(page, "dashboard-tasks.png")
        long_row.locator('button[data-action="pause"]').click()
        expect(page.locator("#message")).to_have_text(f"Paused {ns}/long.")
        expect(long_row).to_have_attribute("data-phase", "Paused", timeout=LIVE_TIMEOUT_MS)
        expect(long_row.locator('button[data-action="resume"]')).to_be_visible()
        assert page.evaluate("window.__sameDocument") == "yes"
        shot(page, "dashboard-paused.png")
        assert api.task(ns, "long")["spec"]["paused"] is True

        # Its page: attempts, conditions, Events and the dependency graph.
        page.goto(f"{base}/tasks/{ns}/long")
        detail = page.locator("article.task-detail")
        expect(detail).to_have_attribute("data-phase", "Paused", timeout=LIVE_TIMEOUT_MS)
        expect(page.locator("table.conditions")).to_contain_text("Reconciling")
        expect(page.locator("table.events")).to_contain_text("Paused", timeout=LIVE_TIMEOUT_MS)
        expect(page.locator('svg.dag g[data-task="after-long"]')).to_be_visible()
        expect(page.locator('svg.dag g.current[data-task="long"]')).to_be_visible()
        shot(page, "dashboard-detail.png")

        # Schedules: the next fire and the last runs.
        api.custom.create_namespaced_custom_object(GROUP, VERSION, ns, "agenttaskschedules", {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "AgentTaskSchedule",
            "metadata": {"name": "nightly"},
            "spec": {"schedule": "0 3 * * *",
                     "taskTemplate": {"spec": {"template": pod_template("1s")}}}})
        page.goto(f"{base}/schedules?namespace={ns}")
        nightly = page.locator("table.schedules tbody tr").filter(has_text="nightly")
        expect(nightly).to_contain_text("0 3 * * *", timeout=LIVE_TIMEOUT_MS)
        expect(nightly).to_contain_text("T03:00:00Z", timeout=LIVE_TIMEOUT_MS)  # next fire
        shot(page, "dashboard-schedules.png")

        # A user who may read but not patch is refused, visibly, and nothing changes.
        page.goto(f"{base}/?namespace={ns}")
        page.click("#logout")
        expect(page.locator("#login")).to_be_visible()
        sign_in(page, reader, f"system:serviceaccount:{ns}:dash-reader")
        long_row = page.locator('tr.task[data-name="long"]')
        expect(long_row).to_have_attribute("data-phase", "Paused", timeout=LIVE_TIMEOUT_MS)
        long_row.locator('button[data-action="cancel"]').click()
        message = page.locator("#message")
        expect(message).to_have_class("error")
        expect(message).to_contain_text(
            f"system:serviceaccount:{ns}:dash-reader may not patch agenttasks.agenttasks.io "
            f"'long' in namespace '{ns}'")
        shot(page, "dashboard-refused.png")
        task = api.task(ns, "long")
        assert task["spec"]["paused"] is True and not task["spec"].get("cancelled")
        assert task["status"]["phase"] == "Paused"
        page.wait_for_timeout(2000)
        expect(long_row).to_have_attribute("data-phase", "Paused")
        assert api.status(ns, "long")["phase"] == "Paused"

        # The reader may not list Events: the task page says so instead of showing them.
        page.goto(f"{base}/tasks/{ns}/long")
        expect(page.locator("article.task-detail")).to_contain_text(
            "You may not list events in this namespace.", timeout=LIVE_TIMEOUT_MS)
    finally:
        page.close()
    wait_for(lambda: api.status(ns, "quick").get("phase") == "Completed", 5,
             what="quick to stay Completed")
