"""Schemathesis against the OpenAPI description of a live server: whatever the generated
input, no 5xx but a plugin's own crash, and every answer is JSON of the documented shape."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tessera.http.openapi import openapi_document
from tessera.plugins.manifest import read_manifest
from tessera.plugins.registry import Plugin, PluginRegistry
from tests.conftest import EXAMPLES, start_server, stop_server


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from tessera.settings import Settings

    data = tmp_path_factory.mktemp("data")
    settings_ = Settings.load({"plugins": EXAMPLES, "data": data}, environ={})
    server, handle = start_server(settings_)
    yield server
    stop_server(handle)


def example_plugins() -> list[Plugin]:
    """The example plugins as the document describes them (manifests only, no import)."""
    registry = PluginRegistry(EXAMPLES)
    return [
        Plugin(name, EXAMPLES / name, read_manifest(EXAMPLES / name, name))
        for name in registry.discover()
    ]


schema = schemathesis.openapi.from_dict(openapi_document(example_plugins()))


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error_whatever_the_input(case, live):
    headers = {"Authorization": f"Bearer {live.token('fuzzer')}"}
    response = case.call(base_url=live.url, headers=headers)
    if response.status_code >= 500:
        assert response.json().get("error_code") == "plugin_failed", response.text
    assert response.headers["content-type"][0].startswith("application/json")
