"""`tessera new plugin`: the generated plugin passes `tessera check` and its own tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tessera.cli import main


@pytest.mark.parametrize("name", ["tasks", "my-tasks"])
def test_a_new_plugin_checks_clean_and_passes_its_own_tests(tmp_path: Path, name: str) -> None:
    plugins = tmp_path / "plugins"
    created = CliRunner().invoke(main, ["new", "plugin", name, "--dir", str(plugins)])
    assert created.exit_code == 0, created.output
    folder = plugins / name
    assert {p.name for p in folder.rglob("*") if p.is_file()} == {
        "__init__.py",
        "logic.py",
        "manifest.json",
        f"test_{name.replace('-', '_')}.py",
    }
    checked = CliRunner().invoke(main, ["check", str(folder), "--strict"])
    assert checked.exit_code == 0, checked.output
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "5 passed" in tests.stdout


def test_an_existing_folder_or_a_bad_name_is_refused(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["new", "plugin", "x1", "--dir", str(tmp_path)]).exit_code == 0
    again = runner.invoke(main, ["new", "plugin", "x1", "--dir", str(tmp_path)])
    assert again.exit_code == 1
    assert "already exists" in again.output
    bad = runner.invoke(main, ["new", "plugin", "../evil", "--dir", str(tmp_path)])
    assert bad.exit_code == 1
    assert "is not a plugin name" in bad.output
