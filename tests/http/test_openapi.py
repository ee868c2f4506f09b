"""Typed actions: input validated before the plugin runs; /openapi.json and /docs."""

from __future__ import annotations

import httpx
import pytest
from openapi_spec_validator import validate

from tessera.plugins.errors import ManifestError
from tessera.plugins.manifest import parse_manifest


@pytest.fixture
def live(serve, corpus):
    return serve(corpus)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "create"}, "title"),
        ({"action": "create", "title": ""}, "title"),
        ({"action": "create", "title": "x", "priority": 9}, "priority"),
        ({"action": "create", "title": "x", "meta": {"tags": ["a", 3]}}, "meta.tags.1"),
    ],
)
def test_invalid_input_is_422_naming_the_field(live, body, field):
    with live.client("alice") as alice:
        response = alice.post("/api/execute/typed", json=body)
    assert response.status_code == 422
    assert response.json()["field"] == field
    assert response.json()["error"].startswith(field)


def test_valid_and_undeclared_actions_reach_the_plugin(live):
    with live.client("alice") as alice:
        valid = alice.post("/api/execute/typed", json={"action": "create", "title": "ok"})
        undeclared = alice.post("/api/execute/typed", json={"action": "other", "title": 5})
        plain = alice.post("/api/execute/echo", json={"action": "create"})
    assert valid.json() == {"action": "create", "title": "ok"}
    assert undeclared.json() == {"action": "other", "title": 5}
    assert plain.status_code == 200


def test_injected_keys_are_not_validated_as_input(live):
    with live.client("alice") as alice:
        response = alice.post(
            "/api/execute/typed", json={"action": "create", "title": "x", "user_id": 5}
        )
    assert response.status_code == 200


def test_openapi_document_is_valid_and_lists_every_action(live):
    assert httpx.get(f"{live.url}/openapi.json").status_code == 401
    with live.client("alice") as alice:
        document = alice.get("/openapi.json").json()
    validate(document)
    typed = document["paths"]["/api/execute/typed"]["post"]
    variants = typed["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    actions = [
        v["allOf"][0]["properties"]["action"]["const"]
        if "allOf" in v
        else v["properties"]["action"]["const"]
        for v in variants
    ]
    assert actions == ["create", "list"]
    assert "/api/execute/echo" in document["paths"]
    assert "/api/execute/broken_syntax" not in document["paths"]


def test_console_page_is_served_with_a_nonce_policy(live):
    response = httpx.get(f"{live.url}/docs")
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    nonce = policy.split("'nonce-")[1].split("'")[0]
    assert f'nonce="{nonce}"' in response.text
    assert "unsafe-inline" not in policy


@pytest.mark.parametrize(
    ("actions", "message"),
    [
        ([], "must be dict"),
        ({"create": 3}, "must be an object"),
        ({"create": {"input": {"type": "nonsense"}}}, "not a valid JSON Schema"),
    ],
)
def test_a_bad_actions_declaration_is_a_load_error(actions, message):
    with pytest.raises(ManifestError, match=message):
        parse_manifest({"actions": actions}, "p")
