"""``GET|POST /api/plugin-settings/{plugin}`` through a real server (issue 4)."""

from __future__ import annotations

import pytest

from tests.http.test_websocket import call


@pytest.fixture
def live(serve, corpus):
    return serve(corpus, max_body_bytes=1000)


def test_settings_round_trip_over_the_defaults(live):
    with live.client("alice") as alice, live.client("bob") as bob:
        assert alice.get("/api/plugin-settings/svc_settings").json() == {
            "color": "red",
            "page_size": 20,
        }
        saved = alice.post("/api/plugin-settings/svc_settings", json={"color": "blue"})
        assert saved.status_code == 200
        assert saved.json() == {"color": "blue", "page_size": 20}
        assert alice.get("/api/plugin-settings/svc_settings").json() == {
            "color": "blue",
            "page_size": 20,
        }
        # The plugin sees the same values for its caller, and other users keep the defaults.
        assert call(alice, "svc_settings", {})["settings"]["color"] == "blue"
        assert bob.get("/api/plugin-settings/svc_settings").json()["color"] == "red"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"color": "green"}, "color"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": "ten"}, "page_size"),
        ({"unknown": 1}, ""),
    ],
)
def test_invalid_values_are_422_naming_the_field(live, body, field):
    with live.client("alice") as alice:
        response = alice.post("/api/plugin-settings/svc_settings", json=body)
        assert response.status_code == 422
        assert response.json()["error_code"] == "validation_error"
        assert response.json()["field"] == field
        assert alice.get("/api/plugin-settings/svc_settings").json()["color"] == "red"


def test_plugin_save_reports_the_failing_field(live):
    with live.client("alice") as alice:
        body = {"action": "save", "values": {"page_size": 500}}
        answer = alice.post("/api/execute/svc_settings", json=body)
        assert answer.status_code == 400
        assert answer.json()["success"] is False
        assert answer.json()["field"] == "page_size"
        ok = call(alice, "svc_settings", {"action": "save", "values": {"nickname": "al"}})
        assert ok == {
            "success": True,
            "settings": {"color": "red", "page_size": 20, "nickname": "al"},
        }


def test_plugin_without_schema_stores_any_object(live):
    with live.client("alice") as alice:
        assert alice.get("/api/plugin-settings/echo").json() == {}
        alice.post("/api/plugin-settings/echo", json={"anything": [1, {"a": None}]})
        assert alice.get("/api/plugin-settings/echo").json() == {"anything": [1, {"a": None}]}


def test_unknown_plugin_is_404_and_oversized_body_413_and_no_token_401(live):
    with live.client("alice") as alice:
        assert alice.get("/api/plugin-settings/nope").status_code == 404
        assert alice.post("/api/plugin-settings/nope", json={}).status_code == 404
        big = {"nickname": "x" * 2000}
        assert alice.post("/api/plugin-settings/svc_settings", json=big).status_code == 413
        assert alice.post("/api/plugin-settings/svc_settings", content=b"[]").status_code == 400
    with live.client() as anonymous:
        assert anonymous.get("/api/plugin-settings/svc_settings").status_code == 401
