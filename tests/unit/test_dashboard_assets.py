"""The dashboard's templates and static files: autoescaping, package data, cache headers."""

from __future__ import annotations

import asyncio
import fnmatch
import tomllib
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from jinja2 import UndefinedError

from agenttasks.web.assets import etag_matches, load, respond
from agenttasks.web.templating import ENV, render

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "agenttasks"
PYPROJECT = PACKAGE.parents[1] / "pyproject.toml"


@pytest.mark.parametrize("template", ["tasks.html", "dag.svg"])
def test_autoescape_is_on_for_html_and_svg_files(template: str) -> None:
    assert ENV.autoescape(template) is True  # type: ignore[operator]


def test_a_template_file_escapes_what_it_is_given() -> None:
    html = render("triggers.html", rows=[], base_url="", note='<script>alert("x")</script>')
    assert "<script>" not in html and "&lt;script&gt;alert(&#34;x&#34;)" in html


def test_autoescape_is_on_for_strings_and_other_names() -> None:
    assert ENV.from_string("{{ x }}").render(x='<b a="1">') == "&lt;b a=&#34;1&#34;&gt;"
    assert ENV.autoescape("anything.txt") is True  # type: ignore[operator]


def test_a_misspelt_variable_is_an_error() -> None:
    with pytest.raises(UndefinedError):
        ENV.from_string("{{ misspelt }}").render()


def test_every_template_and_static_file_is_package_data() -> None:
    patterns = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["package-data"][
        "agenttasks"]
    files = [p.relative_to(PACKAGE).as_posix() for folder in ("web/templates", "web/static")
             for p in (PACKAGE / folder).rglob("*") if p.is_file()]
    assert len(files) >= 8  # dashboard.js and .css, the page and the views' templates
    missing = [f for f in files if not any(fnmatch.fnmatchcase(f, pat) for pat in patterns)]
    assert missing == []


@pytest.mark.parametrize(("header", "matches"), [
    (None, False), ("", False), ('"abc"', True), ('W/"abc"', True), ('"x", "abc"', True),
    ("*", True), ('"abd"', False), ("abc", False),
])
def test_etag_matches(header: str | None, matches: bool) -> None:
    assert etag_matches(header, '"abc"') is matches


def test_assets_revalidate_with_their_etag() -> None:
    script = load("dashboard.js", "text/javascript")

    async def handler(request: web.Request) -> web.StreamResponse:
        return respond(script, request)

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/a.js", handler)
        client: TestClient[Any, Any] = TestClient(TestServer(app))
        await client.start_server()
        try:
            first = await client.get("/a.js")
            assert first.status == 200 and await first.read() == script.body
            assert first.headers["Cache-Control"] == "no-cache"
            assert first.headers["ETag"] == script.etag
            again = await client.get("/a.js", headers={"If-None-Match": script.etag})
            assert again.status == 304 and await again.read() == b""
            assert again.headers["ETag"] == script.etag
            stale = await client.get("/a.js", headers={"If-None-Match": '"old"'})
            assert stale.status == 200 and await stale.read() == script.body
        finally:
            await client.close()

    asyncio.run(main())


def test_etags_differ_by_content() -> None:
    assert load("dashboard.js", "text/javascript").etag != load("dashboard.css",
                                                                "text/css").etag
