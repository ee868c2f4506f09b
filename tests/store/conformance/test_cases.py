"""Finding and reading the specification files."""

from pathlib import Path

import pytest
from bson import ObjectId

from .cases import conformance_dir, load_cases, required_dir


def test_missing_folder_fails_loudly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TESSERA_CONFORMANCE_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="TESSERA_CONFORMANCE_DIR"):
        conformance_dir()


def test_folder_without_test_files_fails_loudly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TESSERA_CONFORMANCE_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no CRUD conformance files"):
        conformance_dir()


def test_files_are_read_as_extended_json(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "one.json").write_text(
        '{"tests": [{"description": "a", "operations": []},'
        ' {"description": "b", "operations": [{"arguments": {"_id": {"$oid":'
        ' "5f0000000000000000000001"}, "n": {"$numberLong": "7"}}}]}]}'
    )
    monkeypatch.setenv("TESSERA_CONFORMANCE_DIR", str(tmp_path))
    first, second = load_cases(conformance_dir())
    assert (first.id, second.id) == ("one: a", "one: b")
    arguments = second.test["operations"][0]["arguments"]
    assert arguments == {"_id": ObjectId("5f0000000000000000000001"), "n": 7}


def test_the_shared_folder_is_found_beside_the_repository() -> None:
    assert len(load_cases(required_dir())) > 400


def test_missing_files_skip_outside_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TESSERA_CONFORMANCE_DIR", str(tmp_path))
    monkeypatch.delenv("TESSERA_REQUIRE_CONFORMANCE", raising=False)
    with pytest.raises(pytest.skip.Exception, match="TESSERA_CONFORMANCE_DIR"):
        required_dir()
    monkeypatch.setenv("TESSERA_REQUIRE_CONFORMANCE", "1")
    with pytest.raises(FileNotFoundError):
        required_dir()
