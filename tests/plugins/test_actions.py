"""Typed actions: each distinct valid schema is checked once, invalid ones every time."""

from __future__ import annotations

from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from tessera.plugins import actions
from tessera.plugins.errors import ManifestError
from tessera.plugins.loader import import_plugin, package_name, unload

ID_INPUT = {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The schemas jsonschema is asked to check, from a clean memory of valid ones."""
    monkeypatch.setattr(actions, "_VALID_SCHEMAS", set())
    seen: list[object] = []
    original = Draft202012Validator.check_schema

    def counted(schema: object) -> None:
        seen.append(schema)
        original(schema)

    monkeypatch.setattr(Draft202012Validator, "check_schema", counted)
    return seen


def test_a_schema_shared_by_actions_and_plugins_is_checked_once(checks: list[object]) -> None:
    spec = {"get": {"input": ID_INPUT}, "delete": {"input": dict(ID_INPUT)}}
    first = actions.parse_actions(spec)
    second = actions.parse_actions({"get": {"input": ID_INPUT}})
    assert len(checks) == 1
    assert first["delete"].validator is not None
    assert second["get"].validator is not None


def test_an_invalid_schema_fails_every_time_with_the_same_message(checks: list[object]) -> None:
    bad = {"create": {"input": {"type": "nonsense"}}}
    messages = []
    for _ in range(2):
        with pytest.raises(ManifestError, match="not a valid JSON Schema") as caught:
            actions.parse_actions(bad)
        messages.append(str(caught.value))
    assert len(checks) == 2
    assert messages[0] == messages[1]


@pytest.mark.parametrize(
    ("valid", "lookalike"),
    [
        ({"required": ["a"]}, {"required": ("a",)}),  # a tuple is no JSON array
        ({"minLength": 1}, {"minLength": True}),  # nor is True the number 1
        ({"const": 1, "minimum": 0}, {"const": 1, "minimum": "0"}),
    ],
)
def test_a_lookalike_of_a_valid_schema_is_still_checked(
    checks: list[object], valid: dict, lookalike: dict
) -> None:
    actions.parse_actions({"a": {"input": valid}})
    with pytest.raises(ManifestError, match="not a valid JSON Schema"):
        actions.parse_actions({"a": {"input": lookalike}})
    assert len(checks) == 2


def test_a_plugin_loaded_again_reads_its_files_again(tmp_path: Path) -> None:
    folder = tmp_path / "counter"
    folder.mkdir()
    (folder / "helpers.py").write_text("VALUE = 1\n")
    logic = "from .helpers import VALUE\n\n\nasync def execute(data):\n    return {'v': VALUE}\n"
    (folder / "logic.py").write_text(logic)
    package = package_name("counter")
    try:
        first = import_plugin("counter", folder)
        assert first.module.VALUE == 1
        (folder / "helpers.py").write_text("VALUE = 22\n")  # another size: no stale .pyc
        second = import_plugin("counter", folder)
        assert second.module.VALUE == 22
    finally:
        unload(package)
