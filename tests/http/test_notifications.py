"""The notification routes and push, through a real server and WebSocket (issue 4)."""

from __future__ import annotations

import pytest
from bson import ObjectId

from tests.http.test_websocket import call, nothing_more, open_socket, receive


@pytest.fixture
def live(serve, corpus):
    return serve(corpus)


async def test_a_notification_from_a_plugin_is_pushed_then_listed_counted_marked_and_deleted(
    live,
):
    async with open_socket(live, "alice") as ws:
        await receive(ws)
        with live.client("alice") as alice:
            created = call(alice, "svc_sender", {"action": "notify", "title": "Hi", "n": 7})
            pushed = await receive(ws)
            assert pushed["type"] == "notification"
            assert pushed["subtype"] == "new"
            data = pushed["data"]
            assert data["id"] == created["id"]
            assert (data["type"], data["title"], data["metadata"]) == ("svc", "Hi", {"n": 7})
            assert data["read"] is False

            listed = alice.get("/api/notifications").json()
            assert listed["count"] == 1
            assert listed["unread_count"] == 1
            assert listed["notifications"] == [data]
            assert alice.get("/api/notifications/count").json()["unread_count"] == 1

            marked = alice.post(f"/api/notifications/{data['id']}/read")
            assert marked.status_code == 200
            assert alice.get("/api/notifications/count").json()["unread_count"] == 0
            assert (
                alice.get("/api/notifications", params={"unread_only": "true"}).json()[
                    "notifications"
                ]
                == []
            )
            alice.post(f"/api/notifications/{data['id']}/unread")
            assert alice.get("/api/notifications/count").json()["unread_count"] == 1

            assert alice.delete(f"/api/notifications/{data['id']}").status_code == 200
            assert alice.get("/api/notifications").json()["count"] == 0
            assert alice.delete(f"/api/notifications/{data['id']}").status_code == 404


def test_listing_is_newest_first_with_limit_offset_and_unread_only(live):
    with live.client("alice") as alice:
        ids = [
            call(alice, "svc_sender", {"action": "notify", "title": f"n{i}"})["id"]
            for i in range(5)
        ]
        alice.post(f"/api/notifications/{ids[4]}/read")
        page = alice.get("/api/notifications", params={"limit": 2, "offset": 1}).json()
        assert [n["title"] for n in page["notifications"]] == ["n3", "n2"]
        assert (page["count"], page["unread_count"]) == (5, 4)
        unread = alice.get("/api/notifications", params={"unread_only": "1"}).json()
        assert [n["title"] for n in unread["notifications"]] == ["n3", "n2", "n1", "n0"]
        assert unread["count"] == 4
        assert alice.post("/api/notifications/mark-all-read").json()["updated"] == 4
        assert alice.get("/api/notifications/count").json()["unread_count"] == 0


def test_one_user_cannot_read_mark_or_delete_anothers_notification(live):
    with live.client("alice") as alice, live.client("bob") as bob:
        notification_id = call(alice, "svc_sender", {"action": "notify"})["id"]
        assert bob.get("/api/notifications").json()["count"] == 0
        assert bob.post(f"/api/notifications/{notification_id}/read").status_code == 404
        assert bob.delete(f"/api/notifications/{notification_id}").status_code == 404
        bob.post("/api/notifications/mark-all-read")
        assert alice.get("/api/notifications/count").json()["unread_count"] == 1
        assert alice.get("/api/notifications").json()["count"] == 1


def test_the_same_user_in_another_app_sees_nothing(live):
    with live.client("alice") as alice, live.client("alice", app_id="shop") as shop:
        call(alice, "svc_sender", {"action": "notify"})
        assert shop.get("/api/notifications").json()["count"] == 0


@pytest.mark.parametrize("bad_id", ["not-an-id", "123", str(ObjectId())])
def test_invalid_or_unknown_ids_are_404(live, bad_id):
    with live.client("alice") as alice:
        response = alice.post(f"/api/notifications/{bad_id}/read")
        assert response.status_code == 404
        assert response.json()["error_code"] == "notification_not_found"
        assert alice.delete(f"/api/notifications/{bad_id}").status_code == 404


@pytest.mark.parametrize(
    "params", [{"limit": "x"}, {"limit": "-1"}, {"offset": "y"}, {"unread_only": "maybe"}]
)
def test_malformed_query_parameters_are_400(live, params):
    with live.client("alice") as alice:
        assert alice.get("/api/notifications", params=params).status_code == 400


def test_an_offset_past_what_a_store_takes_is_400_and_the_largest_is_an_empty_page(live):
    with live.client("alice") as alice:
        too_far = alice.get("/api/notifications", params={"offset": str(2**63)})
        assert too_far.status_code == 400
        assert "between 0 and 9223372036854775807" in too_far.json()["error"]
        last = alice.get("/api/notifications", params={"offset": str(2**63 - 1)})
        assert last.status_code == 200
        assert last.json()["notifications"] == []


def test_routes_need_a_token(live):
    with live.client() as anonymous:
        assert anonymous.get("/api/notifications").status_code == 401
        assert anonymous.get("/api/notifications/count").status_code == 401


async def test_a_muted_type_is_stored_but_not_pushed_and_the_choice_persists(live):
    with live.client("alice") as alice:
        assert alice.get("/api/notifications/preferences").json() == {}
        saved = alice.post(
            "/api/notifications/preferences", json={"promo": {"enabled": False}}
        ).json()
        assert saved == {"preferences": {"promo": {"enabled": False}}}
        alice.post("/api/notifications/preferences", json={"alerts": {"enabled": True}})
        assert alice.get("/api/notifications/preferences").json() == {
            "promo": {"enabled": False},
            "alerts": {"enabled": True},
        }
        async with open_socket(live, "alice") as ws:
            await receive(ws)
            call(alice, "svc_sender", {"action": "notify", "kind": "promo"})
            assert await nothing_more(ws)
            call(alice, "svc_sender", {"action": "notify", "kind": "alerts"})
            assert (await receive(ws))["data"]["type"] == "alerts"
        assert alice.get("/api/notifications").json()["count"] == 2


def test_malformed_preferences_are_422(live):
    with live.client("alice") as alice:
        response = alice.post("/api/notifications/preferences", json={"promo": "off"})
        assert response.status_code == 422
        assert response.json()["field"] == "promo"
        assert alice.post("/api/notifications/preferences", content=b"[1]").status_code == 400
