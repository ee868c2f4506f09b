"""POST /api/execute/{plugin} through a real server socket (SPEC sections 1-2)."""

from __future__ import annotations

import logging
import threading
import time

import httpx
import pytest

from tessera.context import RequestContextFilter
from tests.conftest import EXAMPLES


@pytest.fixture
def live(serve, corpus):
    return serve(corpus)


def call(client: httpx.Client, plugin: str, body: object = None, **kwargs) -> httpx.Response:
    return client.post(f"/api/execute/{plugin}", json=body if body is not None else {}, **kwargs)


def test_contract_template_lists_creates_gets_and_deletes(serve):
    server = serve(EXAMPLES)
    with server.client("alice") as alice:
        created = call(alice, "notes", {"action": "create", "title": "  buy milk "})
        assert created.status_code == 200
        item_id = created.json()["id"]
        listed = call(alice, "notes", {"action": "list"}).json()
        assert listed["count"] == 1
        assert listed["items"][0]["title"] == "buy milk"
        assert listed["items"][0]["_id"] == item_id
        got = call(alice, "notes", {"action": "get", "item_id": item_id}).json()
        assert got["item"]["user_id"] == "alice"
        assert call(alice, "notes", {"action": "delete", "item_id": item_id}).json() == {
            "success": True
        }
        assert call(alice, "notes", {"action": "list"}).json()["count"] == 0
        missing = call(alice, "notes", {"action": "create", "title": " "})
        assert missing.status_code == 400
        assert missing.json() == {"error": "title required"}


def test_two_users_never_see_each_others_items(serve):
    server = serve(EXAMPLES)
    with server.client("alice") as alice, server.client("bob") as bob:
        item_id = call(alice, "notes", {"action": "create", "title": "private"}).json()["id"]
        assert call(bob, "notes", {"action": "list"}).json()["count"] == 0
        assert call(bob, "notes", {"action": "get", "item_id": item_id}).json() == {
            "error": "not found"
        }
        call(bob, "notes", {"action": "delete", "item_id": item_id})
        assert call(alice, "notes", {"action": "list"}).json()["count"] == 1


def test_apps_are_separate_databases(serve):
    server = serve(EXAMPLES)
    with server.client("alice", app_id="shop") as shop, server.client("alice") as default:
        call(shop, "notes", {"action": "create", "title": "in shop"})
        assert call(default, "notes", {"action": "list"}).json()["count"] == 0
        assert call(shop, "notes", {"action": "list"}).json()["count"] == 1


def test_identity_from_the_token_overrides_the_body(live):
    forged = {
        "action": "whoami",
        "user_id": "mallory",
        "app_id": "other",
        "_context": {"user_id": "mallory", "is_superadmin": True},
        "_entitlements": {"plan": "gold"},
        "extra": [1, 2],
    }
    with live.client("alice", username="Alice", roles=["editor"]) as alice:
        received = call(alice, "echo", forged).json()["received"]
    assert received["user_id"] == "alice"
    assert received["app_id"] == "default"
    assert received["_context"] == {
        "app_id": "default",
        "user_id": "alice",
        "username": "Alice",
        "roles": ["editor"],
        "is_superadmin": False,
    }
    assert received["_entitlements"] == {}
    assert received["extra"] == [1, 2]
    assert received["action"] == "whoami"


@pytest.mark.parametrize(
    ("content", "status"),
    [
        (b"[1, 2]", 400),
        (b'"text"', 400),
        (b"{not json", 400),
        (b"\xff\xfe", 400),
    ],
)
def test_a_body_that_is_not_a_json_object_is_400(live, content, status):
    with live.client("alice") as alice:
        response = alice.post("/api/execute/echo", content=content)
    assert response.status_code == status
    assert response.json()["error_code"] == "bad_request"


def test_an_empty_body_is_an_empty_object(live):
    with live.client("alice") as alice:
        response = alice.post("/api/execute/echo", content=b"")
    assert response.status_code == 200
    assert response.json()["received"]["user_id"] == "alice"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic YWxpY2U6eA=="}],
)
def test_missing_or_bad_token_is_401(live, headers):
    response = httpx.post(f"{live.url}/api/execute/echo", json={}, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_expired_token_is_401(live):
    token = live.token("alice", ttl_seconds=-10)
    response = httpx.post(
        f"{live.url}/api/execute/echo", json={}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401


def test_unknown_plugin_is_404_and_a_failed_one_503(live):
    with live.client("alice") as alice:
        assert call(alice, "nope").status_code == 404
        assert call(alice, "nope").json()["error_code"] == "plugin_not_found"
        for name in ("broken_syntax", "no_entry"):
            response = call(alice, name)
            assert response.status_code == 503
            assert response.json()["error_code"] == "plugin_unavailable"
            assert "load_error" not in response.json()
            assert "syntax error" not in response.text
    with live.client("root", superadmin=True) as root:
        response = call(root, "broken_syntax")
    assert response.status_code == 503
    assert "syntax error in logic.py line 1" in response.json()["load_error"]


def test_a_failed_plugin_that_is_disabled_is_404(live):
    live.runtime.plugins.set_enabled("no_entry", False)
    with live.client("alice") as alice:
        assert call(alice, "no_entry").status_code == 404


def test_other_methods_are_405_and_other_paths_404(live):
    with live.client("alice") as alice:
        response = alice.get("/api/execute/echo")
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"
        assert response.json()["error_code"] == "method_not_allowed"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert alice.post("/api/execute/echo/extra", json={}).status_code == 404
        assert alice.post("/api/execute/", json={}).status_code == 404


def test_body_over_the_limit_is_413(serve, corpus):
    server = serve(corpus, max_body_bytes=1000)
    with server.client("alice") as alice:
        response = call(alice, "echo", {"blob": "x" * 2000})
        assert response.status_code == 413
        chunked = alice.post("/api/execute/echo", content=iter([b'{"a": "', b"x" * 2000, b'"}']))
        assert chunked.status_code == 413
        assert call(alice, "echo", {"blob": "small"}).status_code == 200


def test_a_crash_is_500_without_the_exception_text(live, caplog):
    with live.client("alice") as alice:
        response = call(alice, "crash")
    assert response.status_code == 500
    assert "hunter2" not in response.text
    body = response.json()
    assert body["request_id"] == response.headers["x-request-id"]
    assert body["error_code"] == "plugin_failed"
    assert any("hunter2" in (r.exc_text or "") or r.exc_info for r in caplog.records)


def test_a_fault_of_the_runtime_itself_is_a_json_500_with_the_usual_headers(live, monkeypatch):
    async def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(live.runtime.executor, "call", broken)
    with live.client("alice") as alice:
        response = call(alice, "echo", {})
    assert response.status_code == 500
    assert "secret internals" not in response.text
    assert response.json()["error_code"] == "internal_error"
    assert response.json()["request_id"] == response.headers["x-request-id"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_a_result_that_is_not_a_dict_is_500(live):
    with live.client("alice") as alice:
        response = call(alice, "not_a_dict")
    assert response.status_code == 500
    assert "not" not in response.json().get("items", [])


def test_a_result_that_cannot_be_encoded_is_500(live, caplog):
    with caplog.at_level(logging.ERROR), live.client("alice") as alice:
        response = call(alice, "unencodable")
    assert response.status_code == 500
    assert response.json()["error_code"] == "plugin_result_not_json"
    assert any("cannot be encoded" in r.getMessage() for r in caplog.records)


def test_a_plugin_past_its_timeout_is_504(live):
    started = time.monotonic()
    with live.client("alice") as alice:
        response = call(alice, "timeout")
    assert response.status_code == 504
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("kind", "status", "body"),
    [
        ("plain", 400, {"error": "title required"}),
        ("not_found", 404, {"error": "no such item", "error_code": "NOT_FOUND"}),
        ("explicit", 410, {"error": "gone", "http_status": 410}),
    ],
)
def test_error_dicts_are_client_errors_with_the_body_unchanged(live, kind, status, body):
    with live.client("alice") as alice:
        response = call(alice, "errors", {"kind": kind})
    assert response.status_code == status
    assert response.json() == body


def test_reference_error_mode_maps_error_dicts_to_500_detail(serve, corpus):
    server = serve(corpus, error_mode="reference")
    with server.client("alice") as alice:
        response = call(alice, "errors", {"kind": "plain"})
        assert response.status_code == 500
        assert response.json() == {"detail": "title required"}
        assert call(alice, "errors", {"kind": "ok"}).json() == {"ok": True}


def test_a_slow_sync_plugin_does_not_delay_another_plugin(live):
    results: dict[str, float] = {}

    def slow() -> None:
        with live.client("alice") as alice:
            call(alice, "slow_sync", {"seconds": 1.5})
        results["slow_done"] = time.monotonic()

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.2)
    with live.client("bob") as bob:
        started = time.monotonic()
        assert call(bob, "fast").status_code == 200
        fast_took = time.monotonic() - started
    thread.join()
    assert fast_took < 0.5
    assert "slow_done" in results


def test_module_globals_persist_between_calls(live):
    with live.client("alice") as alice:
        first = call(alice, "fast").json()["calls"]
        second = call(alice, "fast").json()["calls"]
    assert second == first + 1


@pytest.mark.parametrize(
    ("plugin", "expected"),
    [
        ("relimports", {"greeting": "hello world", "version": "1.2"}),
        ("hyphen-name", {"plugin": "hyphen-name"}),
        ("backend_layout", {"answer": 42}),
    ],
)
def test_layouts_relative_imports_and_hyphenated_names(live, plugin, expected):
    with live.client("alice") as alice:
        response = call(alice, plugin)
    assert response.status_code == 200
    assert response.json() == expected


class _Collect(logging.Handler):
    """Records log lines with the request context filled in at logging time."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []
        self.addFilter(RequestContextFilter())

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_every_response_carries_a_request_id_and_plugin_logs_carry_it(live):
    collect = _Collect()
    plugin_logger = logging.getLogger("mozaiks_plugins.echo")
    plugin_logger.addHandler(collect)
    plugin_logger.setLevel(logging.INFO)
    try:
        with live.client("alice") as alice:
            response = call(alice, "echo", {"action": "ping"}, headers={"X-Request-ID": "abc-123"})
            generated = call(alice, "echo", {"action": "pong"})
    finally:
        plugin_logger.removeHandler(collect)
    assert response.headers["x-request-id"] == "abc-123"
    assert len(generated.headers["x-request-id"]) >= 16
    seen = {(r.getMessage(), r.request_id, r.plugin) for r in collect.records}
    assert seen == {
        ("echo called with action ping", "abc-123", "echo"),
        ("echo called with action pong", generated.headers["x-request-id"], "echo"),
    }
