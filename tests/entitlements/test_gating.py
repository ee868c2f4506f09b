"""Plans and entitlements through a live server: who may call what, and how much."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tessera.settings import Settings
from tests.conftest import LiveServer, start_server, stop_server
from tests.entitlements.conftest import Clock


def call(client: httpx.Client, plugin: str, **body: object) -> httpx.Response:
    return client.post(f"/api/execute/{plugin}", json=body)


def test_a_plugin_the_plan_does_not_unlock_is_refused_naming_the_plans_that_do(
    planned: Callable[..., LiveServer],
) -> None:
    live = planned()
    with live.client("ann", plan="free") as free, live.client("bob", plan="pro") as pro:
        refused = call(free, "premium")
        assert refused.status_code == 403
        assert refused.json()["error_code"] == "plan_required"
        assert refused.json()["plans"] == ["pro"]
        assert refused.json()["plan"] == "free"
        assert call(pro, "premium").json()["premium"] is True
        assert call(free, "basic_chat", text="hi").json() == {"said": "hi"}


def test_an_action_whose_feature_is_off_is_refused(planned: Callable[..., LiveServer]) -> None:
    live = planned()
    with live.client("ann", plan="free") as free, live.client("bob", plan="pro") as pro:
        refused = call(free, "notes", action="export")
        assert refused.status_code == 403
        assert refused.json()["error_code"] == "feature_required"
        assert refused.json()["feature"] == "export"
        assert refused.json()["plans"] == ["pro"]
        assert call(pro, "notes", action="export").status_code == 200


def test_the_plugin_receives_its_features_limits_and_usage(
    planned: Callable[..., LiveServer],
) -> None:
    live = planned()
    with live.client("ann", plan="pro") as pro:
        call(pro, "notes", action="create")
        received = call(pro, "notes", action="list").json()["entitlements"]
    assert received == {
        "plan": "pro",
        "tier": "pro",
        "features": {"export": True},
        "limits": {
            "notes_per_month": {
                "allowed": 50,
                "used": 1,
                "remaining": 49,
                "resets_at": "2026-04-01T00:00:00+00:00",
            },
            "storage_mb": {"allowed": 1000},
        },
    }


def test_a_limit_is_used_up_then_resets_with_the_next_month(
    planned: Callable[..., LiveServer], clock: Clock
) -> None:
    live = planned()
    with live.client("ann", plan="free") as free:
        assert call(free, "notes", action="create").status_code == 200
        assert call(free, "notes", action="create").status_code == 200
        refused = call(free, "notes", action="create")
        assert refused.status_code == 429
        assert refused.json()["error_code"] == "limit_reached"
        assert refused.json()["limit"] == "notes_per_month"
        assert refused.json()["resets_at"] == "2026-04-01T00:00:00+00:00"
        # Two days and twelve hours until April.
        assert refused.headers["Retry-After"] == str(36 * 3600)
        # Other actions of the plugin still run.
        assert call(free, "notes", action="list").status_code == 200
        clock.advance(days=2)
        assert call(free, "notes", action="create").status_code == 200
        events = call(free, "notes", action="events").json()["events"]
    kinds = [
        e.get("limit") and (e.get("amount"), e.get("allowed"), e.get("period")) for e in events
    ]
    assert kinds.count((1, None, "2026-03")) == 2  # consumed in March
    assert (None, 2, None) in kinds  # the limit reached
    assert any(e.get("previous_period") == "2026-03" and e["period"] == "2026-04" for e in events)


def test_a_call_that_fails_is_not_charged(planned: Callable[..., LiveServer]) -> None:
    live = planned()
    with live.client("ann", plan="free") as free:
        assert call(free, "notes", action="create_and_fail").status_code == 422
        assert call(free, "notes", action="create_and_crash").status_code == 500
        assert call(free, "notes", action="create").status_code == 200
        usage = call(free, "notes", action="list").json()["entitlements"]["limits"]
    assert usage["notes_per_month"]["used"] == 1


def test_a_dry_run_answers_without_running_or_charging(planned: Callable[..., LiveServer]) -> None:
    live = planned()
    with live.client("ann", plan="free") as free:
        answer = call(free, "notes", action="create", _entitlement_dry_run=True)
        assert answer.status_code == 200
        assert answer.json()["dry_run"] is True
        assert answer.json()["allowed"] is True
        assert answer.json()["would_consume"] == {"notes_per_month": 1}
        call(free, "notes", action="create")
        call(free, "notes", action="create")
        refused = call(free, "notes", action="create", _entitlement_dry_run=True)
        assert refused.status_code == 429
        assert refused.json()["dry_run"] is True
        blocked = call(free, "notes", action="export", _entitlement_dry_run=True)
        assert blocked.status_code == 403
        usage = call(free, "notes", action="list").json()["entitlements"]["limits"]
        # A real refusal after the dry ones: its event comes after any theirs would.
        assert call(free, "notes", action="create").status_code == 429
        events = call(free, "notes", action="events").json()["events"]
    assert usage["notes_per_month"]["used"] == 2
    # Only the two real calls were charged, and only the real refusal was told.
    assert [e["amount"] for e in events if "amount" in e] == [1, 1]
    assert [e for e in events if "amount" not in e] == [
        {"user_id": "ann", "app_id": live.settings.app_id, "plugin": "notes",
         "limit": "notes_per_month", "allowed": 2, "resets_at": "2026-04-01T00:00:00+00:00"}
    ]  # fmt: skip


def test_without_a_plans_file_every_call_is_allowed_and_entitlements_are_empty(
    serve: Callable[..., LiveServer], plugins: object
) -> None:
    live = serve(plugins)
    with live.client("ann") as client:
        for _ in range(4):
            answer = call(client, "notes", action="create")
            assert answer.status_code == 200
        assert answer.json()["entitlements"] == {}
        assert call(client, "premium").status_code == 200
        dry = call(client, "notes", action="create", _entitlement_dry_run=True).json()
        assert dry == {"dry_run": True, "allowed": True, "would_consume": {}, "_entitlements": {}}
        access = client.get("/api/check-plugin-access/premium").json()
        assert access == {"plugin": "premium", "access": True}
        assert client.get("/api/subscription-plans").status_code == 404


@pytest.mark.parametrize("plugin_mode", ["in-process", "sandbox"])
def test_the_plugin_side_api_answers_for_the_caller_and_charges_exactly(
    planned: Callable[..., LiveServer],
) -> None:
    live = planned()
    with live.client("ann", plan="free") as free:
        first = call(free, "notes", action="sdk").json()
        assert first["export"] is False
        assert first["remaining"] == 1
        assert first["usage"]["used"] == 1
        assert first["usage"]["period"] == "2026-03"
        call(free, "notes", action="sdk")
        # Used up: consume_limit raises, the plugin crashes, the call is a 500.
        assert call(free, "notes", action="sdk").status_code == 500
        other = call(free, "notes", action="sdk_other_user")
        assert other.status_code == 403
        assert "caller of this call" in other.json()["error"]


def test_a_runtime_stopping_late_leaves_the_newer_ones_plans_to_its_plugins(
    planned: Callable[..., LiveServer], plugins: Path, tmp_path: Path
) -> None:
    """core.entitlements found its gate in a global of its own that every stop cleared:
    another runtime of the process stopping (a test harness's, say) left this one's plugins
    told every limit was unlimited, and consume_limit charged nothing."""
    settings = Settings.load({"plugins": plugins, "data": tmp_path / "older"}, environ={})
    _, older = start_server(settings)
    live = planned()
    stop_server(older)
    with live.client("ann", plan="free") as free:
        remaining = [call(free, "notes", action="sdk").json()["remaining"] for _ in range(2)]
        assert remaining == [1, 0]


def test_a_checked_limit_needs_some_left_and_is_not_charged_by_the_gate(
    planned: Callable[..., LiveServer],
) -> None:
    live = planned()
    with live.client("ann", plan="free") as free:
        assert call(free, "notes", action="import").status_code == 200
        assert call(free, "notes", action="import").status_code == 200
        usage = call(free, "notes", action="list").json()["entitlements"]["limits"]
        assert usage["notes_per_month"]["used"] == 0
        call(free, "notes", action="create")
        call(free, "notes", action="create")
        assert call(free, "notes", action="import").status_code == 429
