"""How Tessera is installed: the distribution's name, and what `make run` installs."""

from __future__ import annotations

import tomllib
from pathlib import Path

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
