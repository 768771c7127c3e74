"""The dashboard's page shells. They hold no data: the script fetches each view's fragment
with the user's token (sessionStorage) and keeps it live over a streamed response."""

from __future__ import annotations

from html import escape

from .tables import PHASES

ASSETS = "/dashboard/assets"
NAV = (("tasks", "/", "Tasks"), ("schedules", "/schedules", "Schedules"),
       ("triggers", "/triggers", "Triggers"))

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


def _filters(view: str) -> str:
    phase = ""
    if view == "tasks":
        options = "".join(f'<option value="{p}">{p}</option>' for p in PHASES)
        phase = ('<label>Phase <select id="filter-phase" name="phase">'
                 f'<option value="">All</option>{options}</select></label>')
    return ('<form id="filters" class="filters">'
            '<label>Namespace <input id="filter-namespace" name="namespace" '
            'list="namespace-list" placeholder="all you may read" autocomplete="off" '
            f'spellcheck="false"></label>{phase}</form>')


def page(view: str, title: str, read_only: bool, namespace: str = "", name: str = "") -> str:
    """A page shell: ``view`` is tasks, task, schedules or triggers."""
    links = "".join(
        f'<a href="{href}"{" aria-current=page" if key == view else ""}>{label}</a>'
        for key, href, label in NAV)
    filters = _filters(view) if view != "task" else ""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{escape(title)} - AgentTasks</title>
<link rel="stylesheet" href="{ASSETS}/dashboard.css">
<script src="{ASSETS}/dashboard.js" defer></script>
</head>
<body data-view="{view}" data-namespace="{escape(namespace)}" data-name="{escape(name)}"
      data-read-only="{'true' if read_only else 'false'}">
<header>
<h1><a href="/">AgentTasks</a></h1>
<nav>{links}</nav>
<div id="auth">
<form id="login">
<label>Kubernetes token <input id="token" type="password" autocomplete="off"
  spellcheck="false" placeholder="kubectl create token &lt;serviceaccount&gt;"></label>
<button type="submit">Sign in</button>
</form>
<span id="who" hidden></span>
<button id="logout" type="button" hidden>Sign out</button>
</div>
</header>
<div id="message" role="alert" hidden></div>
<main>
<h2 class="view-title">{"Task" if view == "task" else escape(title)}</h2>
{filters}
<p id="live" class="muted">not connected</p>
<div id="content" aria-live="polite"><p class="muted">Sign in to see this page.</p></div>
</main>
</body>
</html>
"""
