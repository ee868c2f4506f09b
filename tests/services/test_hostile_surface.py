"""What a hostile plugin or client tried on the reference-compatible surface: forging the
runtime's events (by name, or with a str subclass hashed apart from it), getting the
caller's token into the log through a message object, and storing unbounded preferences."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from tests.http.test_log_redaction import server_log  # noqa: F401 - fixture

# A plugin that records what two runtime events it receives (a reference-style handler).
WATCHER = """
from core.event_bus import on_event

SEEN = []


@on_event("settings_updated")
async def on_settings(payload):
    SEEN.append({"event": "settings_updated", **payload})


@on_event("profile_updated")
async def on_profile(payload):
    SEEN.append({"event": "profile_updated", **payload})


async def execute(data):
    return {"seen": SEEN}
"""

# A hostile plugin publishing the runtime's own event names, naming another user.
FORGER = """
from core.event_bus import event_bus


class Sneaky(str):
    # Equal to the runtime's event name, but hashed apart from it: `name in RUNTIME_EVENTS`
    # (a frozenset lookup) misses it, while `name == subscription.event` still matches.
    def __hash__(self):
        return 1


async def execute(data):
    answers = {}
    for name in data["names"]:
        event = Sneaky(name) if data.get("sneaky") else name
        forged = {"app_id": data["app_id"], "user_id": "bob", "plugin": "billing",
                  "fields": ["full_name"]}
        try:
            await event_bus.publish(event, forged)
            answers[name] = "published"
        except ValueError:
            answers[name] = "refused"
    return answers
"""


def _plugin(folder: Path, name: str, code: str, manifest: dict | None = None) -> None:
    (folder / name).mkdir(parents=True)
    (folder / name / "logic.py").write_text(code)
    if manifest is not None:
        (folder / name / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture
def event_plugins(tmp_path: Path) -> Path:
    folder = tmp_path / "plugins"
    _plugin(folder, "watcher", WATCHER)
    _plugin(folder, "forger", FORGER)
    return folder


def _seen(live, user: str = "watcher-user") -> list[dict]:
    time.sleep(0.3)  # handlers run after publish returns
    with live.client(user) as client:
        return client.post("/api/execute/watcher", json={}).json()["seen"]


# profile_updated is the runtime's (docs/http.md).


def test_a_plugin_cannot_forge_profile_updated_for_another_user(serve, event_plugins):
    live = serve(event_plugins)
    with live.client("mallory") as mallory:
        answer = mallory.post(
            "/api/execute/forger", json={"names": ["profile_updated"], "app_id": "default"}
        )
    assert answer.status_code == 200, answer.text
    forged = [s for s in _seen(live) if s["event"] == "profile_updated" and s["user_id"] == "bob"]
    assert forged == []
    assert answer.json() == {"profile_updated": "refused"}


# A str subclass hashed apart from the name would miss a set lookup and still match the
# subscriptions, which compare with ==.


def test_a_str_subclass_cannot_forge_settings_updated(serve, event_plugins):
    live = serve(event_plugins)
    with live.client("mallory") as mallory:
        answer = mallory.post(
            "/api/execute/forger",
            json={"names": ["settings_updated"], "app_id": "default", "sneaky": True},
        )
    assert answer.status_code == 200, answer.text
    forged = [s for s in _seen(live) if s["event"] == "settings_updated" and s["user_id"] == "bob"]
    assert forged == []
    assert answer.json() == {"settings_updated": "refused"}


# A plugin that logs its data as the message object itself: logger.info(data).

LOGS_DATA = """
import logging

logger = logging.getLogger("mozaiks_plugins.logs_data")


async def execute(data):
    logger.info(data)
    return {}
"""


def test_a_token_logged_as_the_message_object_is_redacted(
    serve,
    tmp_path,
    server_log,  # noqa: F811
):
    folder = tmp_path / "plugins"
    _plugin(folder, "logs_data", LOGS_DATA, {"needs_user_jwt": True})
    # the operator's plugin: sandboxed, it gets tokens only once listed
    live = serve(folder, sandbox_escalation=("logs_data",))
    token = live.token("alice")
    response = httpx.post(
        f"{live.url}/api/execute/logs_data",
        json={},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    log = server_log.getvalue()
    assert "'user_jwt':" in log  # the line was written...
    assert token.split(".")[2] not in log  # ...without the token


# One request of ~140 KB naming 5,000 types would make 5,000 upserts, and repeating it
# would grow the user's stored choices without bound.


def test_preferences_refuse_an_unbounded_number_of_types(serve, tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    live = serve(folder)
    choices = {f"junk_{i}": {"enabled": False} for i in range(5000)}
    with live.client("mallory") as mallory:
        mallory.timeout = httpx.Timeout(120)
        answer = mallory.post("/api/notifications/preferences", json={"preferences": choices})
    assert answer.status_code == 422, answer.text
    assert "at most 200 types" in answer.json()["error"]
    with live.client("mallory") as mallory:
        assert mallory.get("/api/notifications/preferences").json() == {}
