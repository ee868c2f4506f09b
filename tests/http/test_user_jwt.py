"""``user_jwt``: the caller's bearer token, for plugins whose manifest asks, and no other."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tessera.testing import Harness

ECHO_TOKEN = """
async def execute(data):
    return {"has": "user_jwt" in data, "user_jwt": data.get("user_jwt")}
"""


def write_plugin(folder: Path, name: str, manifest: dict | None) -> None:
    (folder / name).mkdir(parents=True)
    (folder / name / "logic.py").write_text(ECHO_TOKEN)
    if manifest is not None:
        (folder / name / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture
def plugins(tmp_path: Path) -> Path:
    folder = tmp_path / "plugins"
    write_plugin(folder, "asks", {"needs_user_jwt": True})
    write_plugin(folder, "declines", {"needs_user_jwt": False})
    write_plugin(folder, "plain", None)
    return folder


def post(url: str, plugin: str, authorization: str, body: dict) -> dict:
    response = httpx.post(
        f"{url}/api/execute/{plugin}", json=body, headers={"Authorization": authorization}
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_only_a_plugin_that_asks_gets_the_callers_token(serve, plugins):
    live = serve(plugins)
    token = live.token("alice")
    for authorization in (f"Bearer {token}", f"bearer  {token}", token):
        assert post(live.url, "asks", authorization, {}) == {"has": True, "user_jwt": token}
    for plugin in ("declines", "plain"):
        assert post(live.url, plugin, f"Bearer {token}", {}) == {"has": False, "user_jwt": None}


def test_a_token_in_the_body_is_never_passed_on(serve, plugins):
    live = serve(plugins)
    token, forged = live.token("alice"), live.token("bob")
    body = {"user_jwt": forged}
    assert post(live.url, "asks", f"Bearer {token}", body)["user_jwt"] == token
    for plugin in ("declines", "plain"):
        assert post(live.url, plugin, f"Bearer {token}", body)["has"] is False


def test_the_admin_listing_says_which_plugins_get_tokens(serve, plugins):
    live = serve(plugins)
    with live.client("root", superadmin=True) as root:
        listed = {p["name"]: p for p in root.get("/api/admin/plugins").json()["plugins"]}
    assert {name: p["needs_user_jwt"] for name, p in listed.items()} == {
        "asks": True,
        "declines": False,
        "plain": False,
    }


async def test_the_harness_hands_a_token_its_runtime_accepts(plugins):
    async with Harness(plugins) as harness:
        result = await harness.execute("asks", {"user_jwt": "forged"}, user="alice", roles=["x"])
        plain = await harness.execute("plain", {"user_jwt": "forged"}, user="alice")
        assert harness.runtime.auth is not None
        identity = await harness.runtime.auth.authenticate(result["user_jwt"])
    assert (identity.user_id, identity.roles) == ("alice", ("x",))
    assert plain["has"] is False
