"""The dashboard in a real headless Chromium (Debian's, driven by Playwright): sign in with a
ServiceAccount token, watch tasks change phase live, pause one, and be refused an action with
a token whose RBAC lacks the patch right; create a task with the New task form and find it
by its display name, and be refused the form without the create right. Screenshots go to
test-artifacts/dashboard-*.png.

Chromium comes from tests/browser/ensure_chromium.sh (apt-get, as root); when it cannot be
had, the test is skipped with the reason, never passed silently.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from agenttasks.api.meta import GROUP, VERSION

from .harness import (
    ARTIFACTS,
    REPO,
    Api,
    Operator,
    account_token,
    make_user,
    pod_template,
    wait_for,
)

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


def user_with_token(api: Api, namespace: str, name: str,
                    rules: list[dict[str, Any]]) -> str:
    """A ServiceAccount with a Role of ``rules`` in ``namespace``; returns a TokenRequest
    token for it."""
    make_user(api, namespace, name, rules)
    return account_token(api, namespace, name)


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

    writer = user_with_token(api, ns, "dash-writer", [
        {"apiGroups": ["agenttasks.io"], "resources": ["agenttasks"],
         "verbs": [*READ, "patch"]},
        {"apiGroups": ["agenttasks.io"], "resources": ["agenttaskschedules"], "verbs": READ},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["list"]}])
    reader = user_with_token(api, ns, "dash-reader", [
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


DISPLAY = "Daily Sales Report - US Region"


@pytest.mark.timeout(600)
def test_dashboard_creates_a_task_from_the_form(api: Api, ns: str, operator: Operator,
                                               browser: Any) -> None:
    from playwright.sync_api import expect

    # A new task's template runs as a Job: creating one from the form needs create jobs too.
    creator = user_with_token(api, ns, "dash-creator", [
        {"apiGroups": ["agenttasks.io"], "resources": ["agenttasks"],
         "verbs": [*READ, "create"]},
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create"]}])
    viewer = user_with_token(api, ns, "dash-viewer", [
        {"apiGroups": ["agenttasks.io"], "resources": ["agenttasks"], "verbs": READ}])
    base = f"http://127.0.0.1:{operator.port}"
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    try:
        page.goto(f"{base}/?namespace={ns}")
        sign_in(page, creator, f"system:serviceaccount:{ns}:dash-creator")
        page.click('nav a[href="/tasks/new"]')  # the token stays in the tab's session
        expect(page.locator("#who")).to_have_text(
            f"Signed in as system:serviceaccount:{ns}:dash-creator")

        page.fill("#new-namespace", ns)
        page.fill("#new-display-name", DISPLAY)
        page.fill("#new-image", "busybox")
        page.fill("#new-command", 'sh -c "echo hello"')
        page.fill("#new-env", "REGION=us\nMODE=daily")
        page.fill("#new-retries", "2")
        page.fill("#new-timeout", "10m")
        page.click("#new-task button[type=submit]")
        message = page.locator("#message")
        expect(message).to_have_class("ok")
        expect(message).to_have_text(re.compile(
            rf"^Created {re.escape(ns)}/daily-sales-report-us-region-[a-z0-9]{{5}}\.$"))
        name = str(message.text_content()).removeprefix(f"Created {ns}/").removesuffix(".")
        link = page.locator("#created-link")
        expect(link).to_have_attribute("href", f"/tasks/{ns}/{name}")
        shot(page, "dashboard-new-task.png")
        task = api.task(ns, name)
        assert task["spec"]["displayName"] == DISPLAY
        assert task["spec"]["retries"]["limit"] == 2 and task["spec"]["timeout"] == "10m"
        container = task["spec"]["template"]["spec"]["containers"][0]
        assert container["command"] == ["sh", "-c", "echo hello"]
        assert container["env"] == [{"name": "REGION", "value": "us"},
                                    {"name": "MODE", "value": "daily"}]
        assert task["metadata"]["annotations"]["agenttasks.io/requested-by"] == (
            f"system:serviceaccount:{ns}:dash-creator")

        # The link leads to the task's page, titled by its display name; the list shows it.
        link.click()
        expect(page.locator("article.task-detail h2")).to_contain_text(DISPLAY,
                                                                       timeout=LIVE_TIMEOUT_MS)
        expect(page).to_have_title(f"{DISPLAY} - AgentTasks")
        page.goto(f"{base}/?namespace={ns}")
        row = page.locator(f'tr.task[data-name="{name}"]')
        expect(row.locator("a")).to_have_text(DISPLAY, timeout=LIVE_TIMEOUT_MS)
        shot(page, "dashboard-display-name.png")

        # The same name again, pasted as a manifest: the API server's dry run refuses it,
        # its message is shown, and no link to a new task.
        page.goto(f"{base}/tasks/new?namespace={ns}")
        page.fill("#manifest-text", f"metadata: {{name: {name}, namespace: {ns}}}\n"
                  "spec:\n  template: {spec: {containers: [{name: a, image: busybox}]}}\n")
        page.click("#new-manifest button[type=submit]")
        expect(message).to_have_class("error")
        expect(message).to_contain_text(f"the API server refused {ns}/{name} (dry run):")
        expect(message).to_contain_text("already exists")
        expect(page.locator("#created")).to_be_hidden()

        # A user who may read tasks but not create them is refused, visibly.
        page.goto(f"{base}/?namespace={ns}")
        page.click("#logout")
        sign_in(page, viewer, f"system:serviceaccount:{ns}:dash-viewer")
        page.click('nav a[href="/tasks/new"]')
        page.fill("#new-namespace", ns)
        page.fill("#new-name", "not-allowed")
        page.fill("#new-image", "busybox")
        page.click("#new-task button[type=submit]")
        expect(message).to_have_class("error")
        expect(message).to_have_text(
            f"Refused: system:serviceaccount:{ns}:dash-viewer may not create "
            f"agenttasks.agenttasks.io in namespace '{ns}'")
        expect(page.locator("#created")).to_be_hidden()
        shot(page, "dashboard-create-refused.png")
    finally:
        page.close()
    with pytest.raises(ApiException) as missing:
        api.task(ns, "not-allowed")
    assert missing.value.status == 404
