"""Serving the web app: index at ``/``, files at ``/static/``, a strict Content-Security-Policy
on every answer, revalidation by ETag, nothing outside the web folder, and the API routes
untouched by the app's routes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.harness import Api
from tumar.api.web import WEB_ROOT

pytestmark = pytest.mark.usefixtures("backend")


async def test_index_and_static_files_carry_a_strict_csp(api: Api) -> None:
    resp = await api.client.get("/")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    csp = resp.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["x-frame-options"] == "DENY"
    # No inline script in the page: every script is a file from the same origin.
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", resp.text, flags=re.S)
    assert scripts and all('src="/static/' in attrs and not body.strip() for attrs, body in scripts)
    assert "style=" not in resp.text and "<style" not in resp.text

    js = await api.client.get("/static/app.js")
    assert js.status_code == 200
    assert js.headers["content-type"].startswith("text/javascript")
    assert js.headers["content-security-policy"] == csp
    etag = js.headers["etag"]
    again = await api.client.get("/static/app.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    css = await api.client.get("/static/style.css")
    assert css.headers["content-type"].startswith("text/css")


@pytest.mark.parametrize(
    "path",
    [
        "/static/../api/web.py",
        "/static/%2e%2e/api/web.py",
        "/static/..%2f..%2fpyproject.toml",
        "/static/lib",
        "/static/nothing-here.js",
        "/static/.hidden.js",
        "/static/chat/client.py",
    ],
)
async def test_nothing_outside_the_web_folder_is_served(api: Api, path: str) -> None:
    resp = await api.client.get(path)
    assert resp.status_code == 404, (path, resp.text[:200])
    assert resp.json()["errcode"] in ("M_NOT_FOUND", "M_UNRECOGNIZED")


async def test_api_routes_are_not_shadowed_by_the_app(api: Api) -> None:
    versions = await api.raw("GET", "/_matrix/client/versions")
    assert versions.status_code == 200 and "versions" in versions.json()
    unknown = await api.raw("GET", "/_matrix/client/v3/no-such-endpoint")
    assert unknown.status_code == 404 and unknown.json()["errcode"] == "M_UNRECOGNIZED"
    admin = await api.raw("GET", "/_tumar/admin/v1/whoami")
    assert admin.status_code == 401 and admin.json()["errcode"] == "M_MISSING_TOKEN"


def test_the_sources_build_no_markup_from_strings() -> None:
    """Text goes into the page as text nodes (lib/dom.js); nothing evaluates strings."""
    forbidden = re.compile(
        r"\.innerHTML\s*=|outerHTML\s*=|insertAdjacentHTML|document\.write|\beval\(|new Function\("
    )
    files = [p for p in Path(WEB_ROOT).rglob("*.js") if not p.is_relative_to(WEB_ROOT / "admin")]
    offenders = [str(p) for p in files if forbidden.search(p.read_text(encoding="utf-8"))]
    assert files and not offenders
    # Nothing sensitive goes to localStorage: only the language preference.
    for p in files:
        for m in re.finditer(r"localStorage\.setItem\(([^,]+),", p.read_text(encoding="utf-8")):
            assert m.group(1).strip() == "STORE_KEY", (p, m.group(0))
