"""``--static URL=FOLDER``: a front end served by the same server, after the API's routes."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tessera.settings import Settings


@pytest.fixture
def site(tmp_path: Path) -> dict[str, Path]:
    web = tmp_path / "web"
    lib = tmp_path / "lib"
    for folder in (web, lib):
        folder.mkdir()
    (web / "index.html").write_text("<p>home</p>")
    (web / "app.js").write_text("export const page = 1;")
    (lib / "app.js").write_text("export const lib = 1;")
    return {"web": web, "lib": lib}


def test_files_are_served_with_a_page_policy_longest_url_first(serve, site):
    live = serve(static=f"/app={site['web']},/app/lib={site['lib']}")
    page = httpx.get(f"{live.url}/app/")
    assert page.status_code == 200
    assert page.text == "<p>home</p>"
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert page.headers["cache-control"] == "no-cache"
    assert httpx.get(f"{live.url}/app/app.js").text == "export const page = 1;"
    assert httpx.get(f"{live.url}/app/lib/app.js").text == "export const lib = 1;"
    script = httpx.get(f"{live.url}/app/app.js")
    assert script.headers["content-type"].startswith(("text/javascript", "application/javascript"))


def test_missing_files_and_escapes_answer_the_json_404(serve, site):
    live = serve(static=f"/app={site['web']}")
    for path in ("/app/nothing.js", "/app/../../etc/passwd", "/app/%2e%2e/%2e%2e/etc/passwd"):
        answer = httpx.get(f"{live.url}{path}")
        assert answer.status_code == 404, path
        assert answer.json()["error_code"] == "not_found"


def test_the_api_comes_before_a_mount_at_the_root(serve, site):
    live = serve(static=f"/={site['web']}")
    assert httpx.get(f"{live.url}/").text == "<p>home</p>"
    assert httpx.get(f"{live.url}/health").json()["status"] in {"ok", "ready"}
    assert httpx.get(f"{live.url}/api/plugins").status_code == 401
    assert "default-src 'none'" in httpx.get(f"{live.url}/docs").headers["content-security-policy"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("app=web", "URL=FOLDER pairs"),
        ("/app", "URL=FOLDER pairs"),
        ("/app=/no/such/folder", "is not a folder"),
    ],
)
def test_a_malformed_value_is_refused_naming_it(value, message):
    with pytest.raises(ValueError, match=message) as refused:
        Settings.load({"static": value}, environ={})
    assert "--static" in str(refused.value)
