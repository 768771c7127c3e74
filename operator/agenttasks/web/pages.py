"""The dashboard's page shells. They hold no data: the script fetches each view's fragment
with the user's token (sessionStorage) and keeps it live over a streamed response."""

from __future__ import annotations

from .tables import PHASES
from .templating import render

ASSETS = "/dashboard/assets"
NAV = (("tasks", "/", "Tasks"), ("schedules", "/schedules", "Schedules"),
       ("triggers", "/triggers", "Triggers"), ("queue", "/queue", "Queue"),
       ("new", "/tasks/new", "New task"))

# No inline script or style anywhere: a stolen session token is what an injected script
# would be after, so the policy allows only our own files.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def page(view: str, title: str, read_only: bool, namespace: str = "", name: str = "") -> str:
    """A page shell: ``view`` is tasks, task, schedules, triggers, queue or new (the task
    form)."""
    template = "new_task.html" if view == "new" else "page.html"
    return str(render(template, view=view, title=title, read_only=read_only,
                      namespace=namespace, name=name, nav=NAV, assets=ASSETS,
                      phases=PHASES)) + "\n"
