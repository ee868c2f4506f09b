"""How Tessera is installed: the distribution's name, and what `make run` installs."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from tessera.cli import main

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_distribution_has_a_name_of_its_own_and_keeps_the_command():
    project = PYPROJECT["project"]
    # "tessera" on the package index is an unrelated project.
    assert project["name"] == "tessera-runtime"
    assert project["scripts"] == {"tessera": "tessera.cli:main"}
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("tessera, version ")


def test_plugin_authors_can_install_what_the_scaffolded_tests_need():
    template = (ROOT / "src/tessera/scaffold/plugin/tests/test_NAME.py.tmpl").read_text()
    testing = " ".join(PYPROJECT["project"]["optional-dependencies"]["testing"])
    for module, requirement in [("pytest_asyncio", "pytest-asyncio"), ("pytest", "pytest")]:
        assert f"import {module}" in template
        assert requirement in testing


def make_dry_run(target: str, tmp_path: Path) -> list[str]:
    """The commands ``make TARGET`` would run in a fresh virtual environment."""
    result = subprocess.run(
        ["make", "-n", "-C", str(ROOT), target, f"VENV={tmp_path / 'venv'}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.splitlines()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_run_installs_only_what_serving_needs_and_shows_progress(tmp_path: Path):
    installs = [line for line in make_dry_run("run", tmp_path) if " install " in line]
    assert installs[-1].endswith("pip install --progress-bar on -e .")
    assert not any("[dev]" in line for line in installs)
    assert any(line.startswith("echo ") for line in make_dry_run("run", tmp_path))


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize("target", ["test", "check"])
def test_make_test_and_check_install_the_development_tools(tmp_path: Path, target: str):
    assert any("-e '.[dev]'" in line for line in make_dry_run(target, tmp_path))
