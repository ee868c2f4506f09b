"""Hostile HTTP input: no 5xx but a plugin's own crash, no hang, nothing lost."""

from __future__ import annotations

import base64
import json
import logging
import socket
import time

import httpx
import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import EXAMPLES

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from tessera.settings import Settings
    from tests.conftest import start_server, stop_server

    data = tmp_path_factory.mktemp("data")
    settings = Settings.load({"plugins": EXAMPLES, "data": data}, environ={})
    server, handle = start_server(settings)
    yield server
    stop_server(handle)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=st.dictionaries(st.text(max_size=12), JSON_VALUES, max_size=6))
def test_any_json_object_gets_an_answer_below_500(live, body):
    with live.client("fuzz") as client:
        response = client.post("/api/execute/notes", json=body)
    assert response.status_code < 500 or response.json()["error_code"] == "plugin_failed"


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(raw=st.binary(max_size=200))
def test_any_bytes_as_body_are_400_or_handled(live, raw):
    with live.client("fuzz") as client:
        response = client.post("/api/execute/notes", content=raw)
    assert response.status_code < 500 or response.json()["error_code"] == "plugin_failed"


@pytest.mark.parametrize(
    "content",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
        b'{"title": "\\ud800"}',
        '{"title": "\u202e\U0001f600\u0000"}'.encode(),
        b'{"action": "create", "title": "' + b"\xc3\x28" + b'"}',
    ],
    ids=["deep-array", "deep-object", "lone-surrogate", "unicode", "invalid-utf8"],
)
def test_pathological_bodies_are_refused_or_served_without_a_crash(live, content):
    with live.client("fuzz") as client:
        response = client.post("/api/execute/notes", content=content)
    assert response.status_code in (200, 400, 413)


@pytest.mark.parametrize(
    ("path", "levels"),
    [("/api/execute/notes", 101), ("/api/plugin-settings/notes", 256)],
)
def test_bodies_nested_deeper_than_the_store_holds_are_400(live, path, levels):
    body = b'{"a":' * levels + b"1" + b"}" * levels
    with live.client("fuzz") as client:
        refused = client.post(path, content=body)
        assert refused.status_code == 400
        assert "100 levels" in refused.json()["error"]
        inner = b'{"a":' * 99 + b"1" + b"}" * 99
        assert (
            client.post(path, content=b'{"action": "list", "x":' + inner + b"}").status_code < 500
        )


@pytest.mark.parametrize("path", ["/api/auth/login", "/api/execute/notes"])
def test_a_client_leaving_mid_body_is_no_server_error(live, caplog, path):
    host, port = httpx.URL(live.url).host, httpx.URL(live.url).port
    with caplog.at_level(logging.ERROR), socket.create_connection((host, port)) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            "Content-Length: 100\r\n\r\n{".encode()
        )
    time.sleep(0.5)  # the server notices the disconnect while waiting for the body
    assert httpx.get(f"{live.url}/health").status_code == 200
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_an_invalid_objectid_is_the_plugins_own_crash_and_the_server_keeps_serving(live):
    with live.client("fuzz") as client:
        response = client.post("/api/execute/notes", json={"action": "get", "item_id": "zz"})
        assert response.status_code == 500
        assert response.json()["error_code"] == "plugin_failed"
        assert client.post("/api/execute/notes", json={"action": "list"}).status_code == 200


def _forged_tokens(live) -> list[str]:
    good = live.token("alice")
    header, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "mallory"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    none_alg = jwt.encode({"sub": "mallory"}, key="", algorithm="none")
    other_key = jwt.encode({"sub": "alice", "exp": 4102444800}, "not-the-secret" * 4, "HS256")
    return [
        f"{header}.{forged_payload}.{signature}",
        none_alg,
        other_key,
        good[:-4],
        "a.b.c",
        "x" * 10_000,
    ]


def test_forged_tokens_are_401_and_nothing_is_written(live):
    for token in _forged_tokens(live):
        response = httpx.post(
            f"{live.url}/api/execute/notes",
            json={"action": "create", "title": "forged"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 401, token[:40]
    with live.client("mallory") as mallory:
        assert mallory.post("/api/execute/notes", json={"action": "list"}).json()["count"] == 0


def test_acknowledged_writes_under_fuzzing_are_all_there(live):
    with live.client("counter") as client:
        ids = {
            client.post("/api/execute/notes", json={"action": "create", "title": f"n{i}"}).json()[
                "id"
            ]
            for i in range(30)
        }
        listed = client.post("/api/execute/notes", json={"action": "list"}).json()["items"]
    assert {item["_id"] for item in listed} == ids
