"""Containment through a real server: two users of one app and a user of a second app keep
recognizable secrets, and nothing a hostile plugin does with the public plugin API reaches
them: no service parameter names another tenant, what is checked is what runs, no
attribute leads out of the scoped objects, indexes tell nothing, and declaring a
collection shared opens no one's per-user data."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parent / "plugins"
SECRETS = ("bob-secret", "carol-secret")


def run(client, plugin, **body):
    return client.post(f"/api/execute/{plugin}", json=body)


@pytest.fixture
def world(serve):
    """A server on the hostile plugins; bob (app default) and carol (app other) each
    have a note, a loot entry, a notification and a motto setting, all secret."""
    return seeded(serve(PLUGINS))


def seeded(live):
    """``live`` once bob and carol hold their secrets."""
    for user, app in (("bob", "default"), ("carol", "other")):
        with live.client(user, app_id=app) as victim:
            secret = f"{user}-secret"
            assert run(victim, "seed", action="add", secret=secret).status_code == 200
            assert run(victim, "diary", action="write", secret=secret).status_code == 200
            assert run(victim, "diary", action="notify", secret=secret).status_code == 200
            assert run(victim, "diary", action="motto", motto=secret).status_code == 200
    return live


def victims_state(live):
    """Everything bob and carol hold, as they see it themselves."""
    state = {}
    for user, app in (("bob", "default"), ("carol", "other")):
        with live.client(user, app_id=app) as victim:
            state[user] = {
                "notes": run(victim, "seed", action="mine").json(),
                "loot": run(victim, "diary", action="mine").json(),
                "notifications": victim.get("/api/notifications").json()["notifications"],
                "preferences": victim.get("/api/notifications/preferences").json(),
                "settings": victim.get("/api/plugin-settings/diary").json(),
            }
    for notes in (s["notifications"] for s in state.values()):
        for notification in notes:
            notification.pop("created_at")
    return state


def assert_nothing_leaked(response):
    assert response.status_code < 500, response.text
    for secret in SECRETS:
        assert secret not in response.text, response.text


SERVICE_ATTACKS = [
    "list_in_app",
    "list_other_user",
    "count_other_user",
    "create_in_app",
    "create_other_user",
    "read_all_in_app",
    "read_all_other_user",
    "delete_in_app",
    "delete_other_user",
    "mute_in_app",
    "mute_other_user",
    "preferences_other_user",
    "settings_in_app",
    "settings_other_user",
    "save_settings_in_app",
    "save_settings_other_user",
    "push_in_app",
    "push_other_user",
    "who_is_online",
]


def test_service_parameters_name_no_other_tenant(world):
    before = victims_state(world)
    ids = {user: state["notifications"][0]["id"] for user, state in before.items() if user == "bob"}
    with world.client("alice") as alice:
        for action in SERVICE_ATTACKS:
            for victim, app in (("bob", "default"), ("carol", "other")):
                response = run(
                    alice,
                    "services_attack",
                    action=action,
                    victim=victim,
                    app=app,
                    id=ids.get(victim, "0" * 24),
                )
                assert_nothing_leaked(response)
                assert "error" in response.json(), (action, victim, response.text)
    assert victims_state(world) == before


def test_a_socket_of_another_user_or_app_receives_nothing(world):
    import websockets.sync.client as ws_client

    url = world.url.replace("http", "ws") + "/ws"
    with ws_client.connect(f"{url}?access_token={world.token('carol', app_id='other')}") as carol:
        assert carol.recv(timeout=5)  # the greeting
        with world.client("alice") as alice:
            for action in ("push_in_app", "push_other_user"):
                run(alice, "services_attack", action=action, victim="carol", app="other")
            online = run(
                alice, "services_attack", action="who_is_online", victim="carol", app="other"
            )
        assert "error" in online.json() or online.json()["result"] == 0
        with pytest.raises(TimeoutError):
            carol.recv(timeout=0.5)


CHECKED_THEN_CHANGED = ["filter_changed", "rewound", "stage_changed", "liar"]


@pytest.mark.parametrize("attack", CHECKED_THEN_CHANGED)
def test_what_is_checked_is_what_runs(world, attack):
    with world.client("alice") as alice:
        response = run(alice, "late_read", action=attack)
    assert_nothing_leaked(response)


def test_an_objectid_changed_after_the_call_changes_nothing(world):
    with world.client("alice") as alice:
        response = run(alice, "late_read", action="id_changed")
    assert response.json() == {"found": "['mine']"}


def documents_of(live, collection):
    with live.client("root", superadmin=True) as root:
        return run(root, "late_read", action="owners", fresh=collection).json()["documents"]


def test_a_filter_cleared_while_the_index_builds_changes_nothing(world):
    with world.client("root", superadmin=True) as root:
        # bob's document in a collection no scoped call has touched yet
        assert run(root, "late_read", action="plant", fresh="fresh1").status_code == 200
    with world.client("alice") as alice:
        response = run(alice, "late_read", action="cleared_by_the_loop", fresh="fresh1")
    assert_nothing_leaked(response)
    assert response.json() == {"found": "0"}
    assert documents_of(world, "fresh1") == [{"user_id": "bob", "secret": "bob-secret"}]


def test_an_owner_changed_while_the_index_builds_stays_the_caller(world):
    with world.client("alice") as alice:
        response = run(alice, "late_read", action="owner_changed_by_the_loop", fresh="fresh2")
        assert response.status_code == 200, response.text
    assert documents_of(world, "fresh2") == [{"secret": "planted", "user_id": "alice"}]


GRAPH_WALKS = [
    "database_inner",
    "cursor_inner",
    "collection_inner",
    "db_client_slot",
    "notifications_private",
    "preferences_private",
    "notifications_sockets",
    "settings_private",
    "settings_registry",
    "sockets_log",
    "sockets_connections",
    "bus_backend",
    "bus_subscriptions",
    "bus_forget",
    "sockets_stop",
    "notifications_start",
]
STATE_WALKS = ["getstate", "reduce", "slot_descriptor"]


@pytest.mark.parametrize("walk", GRAPH_WALKS)
def test_no_attribute_leads_to_an_unscoped_handle_or_the_runtime(world, walk):
    with world.client("alice") as alice:
        response = run(alice, "graph_walk", action=walk)
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith("AttributeError"), response.text


@pytest.mark.parametrize("walk", STATE_WALKS)
def test_the_state_of_scoped_objects_holds_no_handle(world, walk):
    with world.client("alice") as alice:
        response = run(alice, "graph_walk", action=walk)
    assert "reached" not in response.json(), response.text


def test_accounts_live_in_a_store_of_their_own(serve, tmp_path):
    live = serve(PLUGINS)
    account = {"username": "victim", "password": "correct horse battery"}
    assert live.client().post("/api/auth/register", json=account).status_code == 201
    with sqlite3.connect(tmp_path / "data" / "store.db") as store:
        tables = [row[0] for row in store.execute("SELECT * FROM sqlite_master")]
        dump = "\n".join(store.iterdump())
    assert "victim" not in dump and "argon2" not in dump, tables
    assert (tmp_path / "data" / "accounts.db").exists()


def test_a_unique_index_on_a_user_collection_is_per_user(world):
    with world.client("alice") as alice, world.client("bob") as bob:
        assert run(bob, "index_oracle", action="add", email="bob@example.com").status_code == 200
        assert run(bob, "index_oracle", action="add", email="bob@example.com").status_code == 200
        for action in ("unique_app_wide", "unique_models"):
            refused = run(alice, "index_oracle", action=action)
            assert refused.status_code == 400
            assert "must start with user_id" in refused.json()["error"]
            assert "bob@" not in refused.text
        # bob's duplicates make a per-user index fail: the error quotes none of them
        failed = run(alice, "index_oracle", action="unique_per_user")
        assert "bob@" not in failed.text
        assert run(bob, "index_oracle", action="add", email="bob2@example.com").status_code == 200


def test_per_user_uniqueness_lets_two_users_hold_the_same_value(serve):
    live = serve(PLUGINS)
    with live.client("alice") as alice, live.client("bob") as bob:
        assert "name" in run(alice, "index_oracle", action="unique_per_user").json()
        assert "ok" in run(bob, "index_oracle", action="add", email="same@example.com").json()
        assert "ok" in run(alice, "index_oracle", action="add", email="same@example.com").json()
        again = run(alice, "index_oracle", action="add", email="same@example.com")
        assert "DuplicateKeyError" in again.json()["error"]
        assert "bob" not in again.text


def test_declaring_a_per_user_collection_shared_opens_nothing(world):
    with world.client("alice") as alice:
        response = run(alice, "thief", collection="notes")
    assert_nothing_leaked(response)
    assert "per-user" in response.json()["error"]


def test_a_collection_first_shared_takes_no_per_user_documents(serve):
    live = serve(PLUGINS)
    with live.client("alice") as alice, live.client("bob") as bob:
        assert run(alice, "thief", action="touch", collection="loot").json() == {"ok": True}
        refused = run(bob, "diary", action="write", secret="bob-secret")
        assert "shared" in refused.json()["error"]
        response = run(alice, "thief", collection="loot")
    assert_nothing_leaked(response)


@pytest.mark.parametrize("where", ["thread", "empty_context"])
@pytest.mark.parametrize("attempt", ["steal", "phish", "push"])
def test_code_running_with_no_call_context_gets_no_database_and_no_services(world, where, attempt):
    before = victims_state(world)
    with world.client("alice") as alice:
        response = run(alice, "fresh_context", action=where, attempt=attempt)
    assert_nothing_leaked(response)
    assert response.json()["error"].startswith("NotBound"), response.text
    assert "no caller" in response.json()["error"]
    assert victims_state(world) == before


@pytest.mark.parametrize("action", ["find", "count", "aggregate", "delete", "update"])
def test_no_clause_of_a_filter_meets_another_users_document(world, action):
    before = victims_state(world)
    with world.client("alice") as alice:
        response = run(alice, "error_oracle", action=action)
    assert_nothing_leaked(response)
    assert "bob" not in response.text
    assert victims_state(world) == before


def test_the_runtimes_events_lend_no_plugin_the_callers_authority(world):
    with world.client("bob") as bob:
        assert run(bob, "seed", action="mine").status_code == 200  # plugin_executed follows
        assert run(bob, "diary", action="notify", secret="x").status_code == 200
    with world.client("alice") as alice:
        for _ in range(100):
            outcomes = run(alice, "spy").json()["outcomes"]
            if len(outcomes) >= 3:
                break
            time.sleep(0.02)
        else:
            raise AssertionError(f"the handler did not run: {outcomes}")
    assert "bob-secret" not in repr(outcomes)
    assert outcomes and all(o == "refused NotBound" for o in outcomes), outcomes


@pytest.mark.parametrize("action", ["drop_collection", "drop_indexes"])
def test_a_plugin_that_declares_a_per_user_collection_shared_cannot_drop_it(world, action):
    before = victims_state(world)
    with world.client("alice") as alice:
        response = run(alice, "thief", action=action, collection="loot")
    assert "per-user" in response.json()["error"]
    assert victims_state(world) == before


def test_indexes_of_a_per_user_collection_are_dropped_only_under_escalation(world):
    with world.client("alice") as alice:
        assert "ok" in run(alice, "index_oracle", action="add", email="a@example.com").json()
        refused = run(alice, "index_oracle", action="drop_user_index")
    assert "acts on every user's documents" in refused.json()["error"]
