"""The reference shell's platform calls, in the reference's shapes, through a real server
(issue 18): sign-in, notification config, app config, profile and the ``detail`` errors."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tessera.http.auth import LOGIN_RATE
from tessera.http.middleware import crash_body

PASSWORD = "correct horse battery"
DECLARED = [
    {"id": "svc_alert", "label": "Alerts", "description": "When svc sends one"},
    {"id": "svc_digest", "category": "digests", "channels": ["in_app", "email"]},
    {"label": "no id: skipped"},
]


@pytest.fixture
def plugins(corpus):
    (corpus / "svc_sender" / "manifest.json").write_text(json.dumps({"notifications": DECLARED}))
    return corpus


@pytest.fixture
def live(serve, plugins):
    return serve(plugins, max_body_bytes=4000)


def register(live, username: str, **extra: str) -> dict:
    with httpx.Client(base_url=live.url) as anonymous:
        response = anonymous.post(
            "/api/auth/register", json={"username": username, "password": PASSWORD, **extra}
        )
    assert response.status_code == 201, response.text
    return response.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# Sign-in


def test_validate_token_names_the_caller_and_refuses_anything_else(live):
    with live.client("alice") as alice:
        assert alice.get("/api/auth/validate-token").json() == {
            "valid": True,
            "user_id": "alice",
            "username": "alice",
        }
    with live.client() as anonymous:
        assert anonymous.get("/api/auth/validate-token").status_code == 401
        forged = anonymous.get("/api/auth/validate-token", headers=bearer("not-a-token"))
        assert forged.status_code == 401
        assert forged.json()["error_code"] == "unauthorized"


def test_the_oauth2_password_form_at_api_auth_token_signs_in(live):
    account = register(live, "alice")
    with live.client() as anonymous:
        for form in (
            {"data": {"grant_type": "password", "username": "alice", "password": PASSWORD}},
            # Browsers' FormData sends multipart; (None, value) is a plain field.
            {"files": {"username": (None, "alice"), "password": (None, PASSWORD)}},
        ):
            answer = anonymous.post("/api/auth/token", **form)
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["token_type"] == "bearer"
            assert (body["user_id"], body["username"]) == (account["user_id"], "alice")
            checked = anonymous.get(
                "/api/auth/validate-token", headers=bearer(body["access_token"])
            )
            assert checked.json()["user_id"] == account["user_id"]


def test_api_auth_token_refuses_wrong_passwords_files_and_malformed_forms(live):
    register(live, "alice")
    with live.client() as anonymous:
        wrong = anonymous.post("/api/auth/token", data={"username": "alice", "password": "nope"})
        assert wrong.status_code == 401
        assert wrong.json()["error_code"] == "login_failed"
        missing = anonymous.post("/api/auth/token", data={"username": "alice"})
        assert (missing.status_code, missing.json()["field"]) == (422, "password")
        with_file = anonymous.post(
            "/api/auth/token",
            data={"username": "alice", "password": PASSWORD},
            files={"avatar": ("a.png", b"\x89PNG", "image/png")},
        )
        assert with_file.status_code == 400
        assert with_file.json()["error_code"] == "bad_request"
        no_boundary = anonymous.post(
            "/api/auth/token",
            content=b"username=alice",
            headers={"Content-Type": "multipart/form-data"},
        )
        assert no_boundary.status_code == 400
        huge = anonymous.post("/api/auth/token", data={"username": "alice", "password": "x" * 5000})
        assert huge.status_code == 413


def test_api_auth_token_and_api_auth_login_share_one_login_budget(live):
    """Alternating the two routes is refused after one budget of guesses (plus what the
    refill gave back while a loaded machine hashed them), not after two."""
    register(live, "alice")
    started = time.monotonic()
    with live.client() as anonymous:
        for attempt in range(2 * LOGIN_RATE.requests):
            path = "/api/auth/token" if attempt % 2 else "/api/auth/login"
            response = anonymous.post(path, data={"username": "alice", "password": "wrong"})
            if response.status_code == 429:
                break
            assert response.status_code == 401
        else:
            pytest.fail("both routes together allowed two budgets of guesses")
    refilled = int((time.monotonic() - started) * LOGIN_RATE.requests / LOGIN_RATE.period)
    assert LOGIN_RATE.requests <= attempt <= LOGIN_RATE.requests + refilled
    assert int(response.headers["retry-after"]) >= 1


# Notifications


def test_notification_config_lists_declared_types_and_the_callers_choices(live):
    with live.client("alice") as alice:
        answer = alice.get("/api/notifications/config")
        assert answer.status_code == 200
        body = answer.json()
        config = body["config"]
        assert [c["id"] for c in config["categories"]] == ["plugins", "digests"]
        assert [n["id"] for n in config["notifications"]] == ["svc_alert", "svc_digest"]
        alert = config["notifications"][0]
        assert alert == {
            "id": "svc_alert",
            "label": "Alerts",
            "description": "When svc sends one",
            "category": "plugins",
            "channels": ["in_app"],
            "default_enabled": True,
            "plugin": "svc_sender",
        }
        assert body["preferences"] == {
            "svc_alert": {"enabled": True},
            "svc_digest": {"enabled": True},
        }

        saved = alice.post(
            "/api/notifications/preferences",
            json={"preferences": {"svc_alert": {"enabled": False, "frequency": "daily"}}},
        )
        assert saved.status_code == 200
        assert saved.json() == {"preferences": {"svc_alert": {"enabled": False}}}
        after = alice.get("/api/notifications/config").json()["preferences"]
        assert after == {"svc_alert": {"enabled": False}, "svc_digest": {"enabled": True}}

    with live.client("bob") as bob:
        theirs = bob.get("/api/notifications/config").json()["preferences"]
        assert theirs["svc_alert"] == {"enabled": True}
    with live.client() as anonymous:
        assert anonymous.get("/api/notifications/config").status_code == 401


def test_preferences_post_takes_a_bare_body_too_and_refuses_malformed_ones(live):
    with live.client("alice") as alice:
        bare = alice.post("/api/notifications/preferences", json={"promo": {"enabled": False}})
        assert bare.json() == {"preferences": {"promo": {"enabled": False}}}
        # A type named "preferences" is still a type: it has its own "enabled".
        named = alice.post(
            "/api/notifications/preferences", json={"preferences": {"enabled": False}}
        )
        assert named.json()["preferences"]["preferences"] == {"enabled": False}
        wrapped_bad = alice.post(
            "/api/notifications/preferences", json={"preferences": {"promo": "off"}}
        )
        assert (wrapped_bad.status_code, wrapped_bad.json()["field"]) == (422, "promo")


# App config, settings config and profile


def test_app_config_is_public_and_from_the_settings(serve, plugins):
    live = serve(plugins, app_name="Acme Notes", app_version="2.3.1", app_env="production")
    with live.client() as anonymous:
        answer = anonymous.get("/api/app-config")
    assert answer.status_code == 200
    assert answer.json() == {
        "app_name": "Acme Notes",
        "app_version": "2.3.1",
        "env": "production",
        "monetization_enabled": False,
    }


def test_settings_config_has_the_profile_sections_and_a_switch_per_declared_type(live):
    with live.client() as anonymous:
        assert anonymous.get("/api/settings-config").status_code == 401
    with live.client("alice") as alice:
        sections = alice.get("/api/settings-config").json()["profile_sections"]
    by_id = {s["id"]: s for s in sections}
    assert list(by_id) == ["personal", "notifications", "appearance"]
    personal = {f["id"]: f for f in by_id["personal"]["fields"]}
    assert list(personal) == ["full_name", "email", "bio", "profile_picture"]
    assert personal["email"]["editable"] is False
    toggles = by_id["notifications"]["plugin_notification_fields"]
    assert [(t["id"], t["type"], t["plugin"]) for t in toggles] == [
        ("svc_alert", "toggle", "svc_sender"),
        ("svc_digest", "toggle", "svc_sender"),
    ]


def test_user_profile_is_the_callers_own_with_plugin_settings(live):
    account = register(live, "alice", email="alice@example.com")
    token = account["access_token"]
    with httpx.Client(base_url=live.url, headers=bearer(token)) as alice:
        profile = alice.get("/api/user-profile").json()
        assert profile["user_id"] == account["user_id"]
        assert profile["username"] == "alice"
        assert profile["email"] == "alice@example.com"
        assert (profile["roles"], profile["is_superadmin"]) == ([], False)
        assert profile["full_name"] is None
        assert profile["plugin_settings"]["svc_settings"] == {"color": "red", "page_size": 20}
        assert "password_hash" not in profile
        alice.post("/api/plugin-settings/svc_settings", json={"color": "blue"})
        again = alice.get("/api/user-profile").json()
        assert again["plugin_settings"]["svc_settings"]["color"] == "blue"
    with live.client("bob") as bob:
        theirs = bob.get("/api/user-profile").json()
        assert (theirs["user_id"], theirs["email"]) == ("bob", None)
        assert theirs["plugin_settings"]["svc_settings"]["color"] == "red"
    with live.client() as anonymous:
        assert anonymous.get("/api/user-profile").status_code == 401


def test_update_profile_changes_the_editable_fields_of_the_caller_only(live):
    with live.client("alice") as alice, live.client("bob") as bob:
        answer = alice.post(
            "/api/update-profile", json={"full_name": "Alice Liddell", "bio": "Curious."}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["profile"]["full_name"] == "Alice Liddell"
        profile = alice.get("/api/user-profile").json()
        assert (profile["full_name"], profile["bio"]) == ("Alice Liddell", "Curious.")
        assert profile["updated_at"]
        cleared = alice.post("/api/update-profile", json={"bio": None}).json()["profile"]
        assert (cleared["full_name"], cleared["bio"]) == ("Alice Liddell", None)
        assert bob.get("/api/user-profile").json()["full_name"] is None


@pytest.mark.parametrize(
    "field, value",
    [
        ("roles", ["admin"]),
        ("is_superadmin", True),
        ("password_hash", "$argon2id$forged"),
        ("hashed_password", "$2b$forged"),
        ("password", "new password"),
        ("user_id", "bob"),
        ("username", "root"),
        ("email", "eve@example.com"),
        ("app_id", "other"),
        ("_id", "0" * 24),
        ("plugin_settings", {"svc_settings": {"color": "blue"}}),
    ],
)
def test_update_profile_refuses_fields_a_user_may_not_change(live, field, value):
    account = register(live, "alice")
    with httpx.Client(base_url=live.url, headers=bearer(account["access_token"])) as alice:
        refused = alice.post("/api/update-profile", json={"full_name": "Mallory", field: value})
        assert refused.status_code == 400
        body = refused.json()
        assert (body["error_code"], body["field"]) == ("field_not_editable", field)
        assert "full_name" in body["error"]  # names what may be changed
        # Refused as a whole: not even the allowed field changed.
        profile = alice.get("/api/user-profile").json()
        assert profile["full_name"] is None
        assert (profile["user_id"], profile["username"]) == (account["user_id"], "alice")
        assert (profile["roles"], profile["is_superadmin"]) == ([], False)
        assert profile["plugin_settings"]["svc_settings"]["color"] == "red"
    # The password is unchanged: the account still signs in with it.
    with live.client() as anonymous:
        login = anonymous.post("/api/auth/token", data={"username": "alice", "password": PASSWORD})
        assert login.status_code == 200


@pytest.mark.parametrize(
    "body, status, field",
    [
        ({"full_name": 42}, 422, "full_name"),
        ({"bio": ["a"]}, 422, "bio"),
        ({"full_name": "x" * 201}, 422, "full_name"),
        ({"profile_picture": "javascript:alert(1)"}, 422, "profile_picture"),
        ({}, 400, None),
    ],
)
def test_update_profile_refuses_bad_values_with_a_clear_message(live, body, status, field):
    with live.client("alice") as alice:
        answer = alice.post("/api/update-profile", json=body)
        assert answer.status_code == status
        assert answer.json().get("field") == field
        assert answer.json()["error"]
        assert alice.post("/api/update-profile", content=b"[1]").status_code == 400
        assert alice.post("/api/update-profile", content=b"{nope").status_code == 400
        assert alice.post("/api/update-profile", content=b"{}" * 3000).status_code == 413


# Errors in the reference mode


def test_every_error_carries_detail_in_the_reference_error_mode(serve, plugins):
    live = serve(plugins, error_mode="reference")
    with live.client() as anonymous:
        cases = [
            anonymous.get("/no/such/route"),
            anonymous.get("/api/workflows"),  # the reference's AI runtime: not served
            anonymous.get("/api/update-profile"),  # 405
            anonymous.get("/api/user-profile"),  # 401
            anonymous.post("/api/execute/echo", json={}),  # 401 on the execute path
            anonymous.post("/api/auth/token", data={"username": "alice"}),  # 422
            anonymous.post(
                "/api/auth/token", content=b"x", headers={"Content-Type": "multipart/form-data"}
            ),  # 400 from Starlette's form parser
        ]
    with live.client("alice") as alice:
        cases += [
            alice.post("/api/update-profile", json={"roles": ["admin"]}),  # 400
            alice.post("/api/update-profile", content=b"{nope"),  # 400
            alice.post("/api/execute/no_such_plugin", json={}),  # 404
            alice.get("/api/plugin-settings/no_such_plugin"),  # 404
        ]
    statuses = [r.status_code for r in cases]
    assert statuses == [404, 404, 405, 401, 401, 422, 400, 400, 400, 404, 404]
    for response in cases:
        body = response.json()
        assert body["detail"] == body["error"], response.text
        assert body["detail"]


def test_the_tessera_error_mode_keeps_its_shape_without_detail(live):
    with live.client("alice") as alice:
        for response in (alice.get("/no/such/route"), alice.get("/api/update-profile")):
            assert set(response.json()) == {"error", "error_code", "request_id"}


def test_a_crash_body_carries_detail_only_when_asked():
    assert "detail" not in json.loads(crash_body(b"r1"))
    body = json.loads(crash_body(b"r1", detail=True))
    assert body["detail"] == body["error"]
    assert "Traceback" not in body["detail"]
