"""The CRUD specification test files, read into one case per (file, test)."""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from bson import json_util

__all__ = ["Case", "conformance_dir", "load_cases", "required_dir"]

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_DIR = REPO_ROOT.parent / "shared" / "conformance" / "mongodb-crud-unified"


@dataclass(frozen=True)
class Case:
    """One test of one specification file, with the file-level setup it runs in."""

    file: str
    spec: dict[str, Any]
    test: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.file}: {self.test['description']}"


def conformance_dir() -> Path:
    """The folder of JSON test files: ``TESSERA_CONFORMANCE_DIR``, else beside the repo."""
    folder = Path(os.environ.get("TESSERA_CONFORMANCE_DIR") or DEFAULT_DIR)
    if not folder.is_dir() or not any(folder.glob("*.json")):
        raise FileNotFoundError(
            f"no CRUD conformance files in {folder}: put the unified-format JSON files of "
            "mongodb/specifications source/crud/tests/unified there, "
            "or point TESSERA_CONFORMANCE_DIR at them"
        )
    return folder


def required_dir() -> Path:
    """The folder, or skip the calling module saying where to get the files. CI sets
    ``TESSERA_REQUIRE_CONFORMANCE=1`` so that missing files fail there instead."""
    try:
        return conformance_dir()
    except FileNotFoundError as missing:
        if os.environ.get("TESSERA_REQUIRE_CONFORMANCE") == "1":
            raise
        pytest.skip(str(missing), allow_module_level=True)


def load_cases(folder: Path | None = None) -> list[Case]:
    """Every test of every file, parsed as extended JSON so ``$oid``, ``$date``... are BSON."""
    cases = []
    for path in sorted((folder or conformance_dir()).glob("*.json")):
        spec = json_util.loads(path.read_text())
        cases.extend(Case(path.stem, spec, test) for test in spec["tests"])
    return cases
