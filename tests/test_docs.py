"""Docs that cannot drift: every setting and CLI command is documented."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from tessera.cli import main
from tessera.settings import SETTINGS, settings_markdown
from tessera.store.aggregation.aggregate import UNSUPPORTED_STAGES, supported_stages

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_every_setting_is_in_the_readme_and_in_serve_help(setting):
    assert f"`{setting.env}`" in README
    assert f"`{setting.option}" in README
    help_text = CliRunner().invoke(main, ["serve", "--help"], terminal_width=200).output
    assert setting.option in help_text
    assert setting.env in help_text


@pytest.mark.parametrize("command", sorted(main.commands))
def test_every_cli_command_is_in_the_readme(command):
    assert f"tessera {command}" in README


@pytest.mark.parametrize("page", ["README.md", "docs/configuration.md"])
def test_the_configuration_tables_are_generated_from_the_settings(page):
    text = (Path(__file__).resolve().parent.parent / page).read_text()
    assert settings_markdown() in text, "run `make docs` to regenerate the tables"


def test_the_check_rules_table_is_generated_from_the_rules():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "update_docs", Path(__file__).resolve().parent.parent / "scripts" / "update_docs.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    page = (Path(__file__).resolve().parent.parent / "docs" / "check.md").read_text()
    assert module.rules_markdown() in page, "run `make docs` to regenerate docs/check.md"


SERVICES = (Path(__file__).resolve().parent.parent / "docs" / "services.md").read_text()


@pytest.mark.parametrize("stage", [*supported_stages(), *sorted(UNSUPPORTED_STAGES)])
def test_every_aggregation_stage_the_store_runs_or_refuses_is_in_the_services_doc(stage):
    assert f"`{stage}`" in SERVICES
