"""Per-plugin limits, the watchdog and the security surface, through a real server."""

from __future__ import annotations

import logging
import threading

import httpx
import pytest


@pytest.fixture
def live(serve, corpus):
    return serve(corpus, watchdog_threshold=0.2, cors_origins="https://app.example")


def call(client: httpx.Client, plugin: str, body: dict | None = None) -> httpx.Response:
    return client.post(f"/api/execute/{plugin}", json=body or {})


def test_required_roles_refuse_others_with_403(live):
    with live.client("alice") as alice:
        refused = call(alice, "editors_only")
    assert refused.status_code == 403
    assert refused.json()["error_code"] == "role_required"
    with live.client("bob", roles=["admin"]) as bob, live.client("root", superadmin=True) as su:
        assert call(bob, "editors_only").status_code == 200
        assert call(su, "editors_only").status_code == 200


def test_rate_limit_is_per_user_and_answers_429_with_retry_after(live):
    with live.client("alice") as alice, live.client("bob") as bob:
        assert [call(alice, "limited").status_code for _ in range(2)] == [200, 200]
        limited = call(alice, "limited")
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 30
        assert limited.json()["error_code"] == "rate_limited"
        assert call(bob, "limited").status_code == 200


def test_a_server_wide_rate_limit_governs_plugins_that_set_none(serve, corpus):
    live = serve(corpus, rate_limit="2/minute")
    with live.client("alice") as alice:
        assert [call(alice, "echo").status_code for _ in range(3)] == [200, 200, 429]


def test_concurrency_cap_refuses_the_extra_call(live):
    statuses: list[int] = []

    def slow() -> None:
        # Bob's quick calls may hold the slot when Alice's arrives; she tries again.
        with live.client("alice") as alice:
            status = call(alice, "single", {"seconds": 2.0}).status_code
            while status == 429:
                status = call(alice, "single", {"seconds": 2.0}).status_code
            statuses.append(status)

    thread = threading.Thread(target=slow)
    thread.start()
    # Bob's calls pass until Alice's holds the only slot (a loaded machine starts it late).
    with live.client("bob") as bob:
        extra = call(bob, "single", {"seconds": 0})
        while extra.status_code == 200 and thread.is_alive():
            extra = call(bob, "single", {"seconds": 0})
    thread.join()
    assert statuses == [200]
    assert extra.status_code == 429
    assert extra.json()["error_code"] == "too_many_concurrent_calls"
    with live.client("bob") as bob:
        assert call(bob, "single", {"seconds": 0}).status_code == 200


def test_manifest_size_limits_for_request_and_response(live):
    with live.client("alice") as alice:
        assert call(alice, "small_io", {"pad": "x" * 200}).status_code == 413
        too_big = call(alice, "small_io", {"size": 500})
        assert too_big.status_code == 500
        assert too_big.json()["error_code"] == "response_too_large"
        assert call(alice, "small_io", {"size": 50}).status_code == 200


def test_the_watchdog_names_the_plugin_blocking_the_loop(live, caplog):
    with caplog.at_level(logging.WARNING, "tessera"), live.client("alice") as alice:
        assert call(alice, "blocker", {"action": "crunch", "seconds": 0.8}).status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "tessera"]
    assert any("blocked" in line and "blocker" in line and "'crunch'" in line for line in lines)
    with live.client("root", superadmin=True) as root:
        exposition = root.get("/metrics").text
    assert 'tessera_event_loop_blocked_total{plugin="blocker"} 1.0' in exposition
    assert 'tessera_plugin_calls_total{plugin="blocker",status="ok"} 1.0' in exposition


def test_metrics_need_a_superadmin(live):
    assert httpx.get(f"{live.url}/metrics").status_code == 401
    with live.client("alice") as alice:
        assert alice.get("/metrics").status_code == 403


def test_failure_details_are_for_superadmins_only(live):
    public = httpx.get(f"{live.url}/health").json()
    assert public["plugins"]["failed"] == 2  # broken_syntax, no_entry: counted, not named
    assert "broken_syntax" not in str(public)
    assert "syntax error" not in str(public)
    with live.client("alice") as alice:
        assert alice.get("/health").json()["plugins"]["failed"] == 2
        listed = {p["name"]: p for p in alice.get("/api/plugins").json()["plugins"]}
    assert listed["broken_syntax"]["status"] == "failed"
    assert "error" not in listed["broken_syntax"]
    with live.client("root", superadmin=True) as root:
        detailed = root.get("/health").json()["plugins"]["failed"]
        listed = {p["name"]: p for p in root.get("/api/plugins").json()["plugins"]}
    assert "syntax error" in detailed["broken_syntax"]
    assert "syntax error" in listed["broken_syntax"]["error"]


def test_security_headers_on_every_response(live):
    for response in (
        httpx.get(f"{live.url}/health"),
        httpx.get(f"{live.url}/nope"),
        httpx.post(f"{live.url}/api/execute/echo", json={}),  # 401: the execute endpoint
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert "default-src 'none'" in response.headers["content-security-policy"]


def test_cors_allows_only_configured_origins(live):
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    allowed = httpx.options(
        f"{live.url}/api/execute/echo", headers={"Origin": "https://app.example", **preflight}
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    refused = httpx.options(
        f"{live.url}/api/execute/echo", headers={"Origin": "https://evil.example", **preflight}
    )
    assert "access-control-allow-origin" not in refused.headers
    with live.client("alice") as alice:
        response = alice.post(
            "/api/execute/echo", json={}, headers={"Origin": "https://app.example"}
        )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()


def test_no_cors_headers_when_no_origin_is_configured(serve, corpus):
    server = serve(corpus)
    response = httpx.get(f"{server.url}/health", headers={"Origin": "https://app.example"})
    assert "access-control-allow-origin" not in response.headers
