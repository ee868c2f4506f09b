"""The user's plan when the token names none: Tessera's subscription record, its trial,
and the reference's subscription routes."""

from __future__ import annotations

from collections.abc import Callable

from click.testing import CliRunner

from tessera.cli import main
from tests.conftest import LiveServer
from tests.entitlements.conftest import PLANS, Clock


def test_a_user_without_a_record_is_on_the_default_plan(
    planned: Callable[..., LiveServer],
) -> None:
    live = planned()
    with live.client("ann") as ann:
        assert ann.post("/api/execute/premium", json={}).status_code == 403
        assert ann.get("/api/user-subscription").json() == {
            "user_id": "ann",
            "plan": "free",
            "status": "inactive",
            "is_trial": False,
            "trial_info": None,
        }


def test_an_admin_changes_a_plan_and_it_applies_from_the_next_call(
    planned: Callable[..., LiveServer],
) -> None:
    live = planned()
    with live.client("ann") as ann, live.client("root", superadmin=True) as admin:
        assert ann.post("/api/execute/premium", json={}).status_code == 403
        changed = admin.post("/api/admin/subscriptions/ann", json={"plan": "pro"})
        assert changed.json()["plan"] == "pro"
        assert ann.post("/api/execute/premium", json={}).status_code == 200
        assert ann.get("/api/check-plugin-access/premium").json() == {
            "plugin": "premium",
            "access": True,
        }
        refused = ann.post("/api/admin/subscriptions/ann", json={"plan": "pro"})
        assert refused.status_code == 403
        unknown = admin.post("/api/admin/subscriptions/ann", json={"plan": "gold"})
        assert unknown.status_code == 400
        assert "free, pro" in unknown.json()["error"]


def test_a_trial_gives_its_plan_until_it_ends(
    planned: Callable[..., LiveServer], clock: Clock
) -> None:
    live = planned()
    with live.client("ann") as ann, live.client("root", superadmin=True) as admin:
        admin.post("/api/admin/subscriptions/ann", json={"plan": "pro", "trial_days": True})
        assert ann.post("/api/execute/premium", json={}).status_code == 200
        standing = ann.get("/api/user-subscription").json()
        assert standing["is_trial"] is True
        assert standing["trial_info"] == {
            "days_remaining": 14,
            "end_date": "2026-04-13T12:00:00+00:00",
        }
        clock.advance(days=14)
        assert ann.post("/api/execute/premium", json={}).status_code == 403
        assert ann.get("/api/user-subscription").json()["plan"] == "free"


def test_the_token_plan_wins_over_the_record(planned: Callable[..., LiveServer]) -> None:
    live = planned()
    with live.client("root", superadmin=True) as admin:
        admin.post("/api/admin/subscriptions/ann", json={"plan": "pro"})
    with live.client("ann", plan="free") as ann:
        assert ann.post("/api/execute/premium", json={}).status_code == 403
        assert ann.get("/api/user-subscription").json()["plan"] == "free"


def test_tessera_plan_set_changes_a_running_servers_next_call(
    planned: Callable[..., LiveServer],
) -> None:
    live = planned()
    data = str(live.settings.data)
    with live.client("ann") as ann:
        assert ann.post("/api/execute/premium", json={}).status_code == 403
        result = CliRunner().invoke(
            main, ["plan", "set", "ann", "pro", "--data", data, "--plans", str(PLANS)]
        )
        assert result.exit_code == 0, result.output
        assert result.output.strip() == "ann: pro (active)"
        assert ann.post("/api/execute/premium", json={}).status_code == 200
    wrong = CliRunner().invoke(
        main, ["plan", "set", "ann", "gold", "--data", data, "--plans", str(PLANS)]
    )
    assert wrong.exit_code == 1
    assert "Unknown plan 'gold'" in wrong.output


def test_users_change_their_own_plan_only_where_the_app_allows(
    planned: Callable[..., LiveServer],
) -> None:
    closed = planned()
    with closed.client("ann") as ann:
        assert ann.post("/api/update-subscription", json={"new_plan": "pro"}).status_code == 403
        assert ann.post("/api/cancel-subscription").status_code == 403


def test_self_service_plan_changes_in_the_reference_shapes(
    planned: Callable[..., LiveServer],
) -> None:
    live = planned(plans_self_service=True)
    with live.client("ann") as ann:
        plans = ann.get("/api/subscription-plans").json()
        assert [p["name"] for p in plans["subscription_plans"]] == ["free", "pro"]
        assert plans["settings"]["default_plan"] == "free"
        updated = ann.post("/api/update-subscription", json={"new_plan": "pro"})
        assert updated.json() == {"message": "Subscription updated successfully", "new_plan": "pro"}
        assert ann.post("/api/execute/premium", json={}).status_code == 200
        assert ann.post("/api/update-subscription", json={}).status_code == 400
        assert ann.post("/api/update-subscription", json={"new_plan": "gold"}).status_code == 400
        assert ann.post("/api/cancel-subscription").status_code == 200
        assert ann.get("/api/user-subscription").json()["status"] == "canceled"
        assert ann.post("/api/execute/premium", json={}).status_code == 403


def test_the_plugin_list_marks_what_the_plan_unlocks(planned: Callable[..., LiveServer]) -> None:
    live = planned()
    with live.client("ann", plan="free") as ann:
        listed = {p["name"]: p for p in ann.get("/api/plugins").json()["plugins"]}
    assert listed["notes"]["unlocked"] is True
    assert listed["premium"]["unlocked"] is False
    assert listed["premium"]["plans"] == ["pro"]


def test_a_trial_too_long_for_the_calendar_is_refused_with_400(
    planned: Callable[..., LiveServer],
) -> None:
    live = planned()
    with live.client("root", superadmin=True) as admin:
        for days in (10**9, 10**30):
            answer = admin.post(
                "/api/admin/subscriptions/ann", json={"plan": "pro", "trial_days": days}
            )
            assert answer.status_code == 400
            assert answer.json()["error_code"] == "bad_request"
        assert admin.get("/api/admin/subscriptions/ann").json()["plan"] == "free"


def test_a_plan_change_while_the_store_is_down_is_503(planned: Callable[..., LiveServer]) -> None:
    live = planned(plans_self_service=True)
    live.runtime.store.engine.close()
    with live.client("ann") as ann, live.client("root", superadmin=True) as admin:
        for answer in (
            admin.post("/api/admin/subscriptions/ann", json={"plan": "pro"}),
            ann.post("/api/update-subscription", json={"new_plan": "pro"}),
            ann.post("/api/cancel-subscription"),
        ):
            assert answer.status_code == 503
            assert answer.json()["error_code"] == "entitlements_unavailable"
            assert answer.headers["Retry-After"] == "5"
