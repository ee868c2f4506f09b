"""``tessera check`` as CI and tools run it: exit codes, text lines and JSON."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from click.testing import CliRunner

from tessera.cli import main
from tests.conftest import EXAMPLES

HERE = Path(__file__).resolve().parent
LINE = re.compile(
    r"^(?P<path>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<rule>[a-z-]+) \[(error|warning|info)\] "
)


def check(*args: str):
    return CliRunner().invoke(main, ["check", *args])


def test_every_example_plugin_passes_the_check():
    # This is the CI gate on examples/: every example must keep passing.
    result = check(str(EXAMPLES))
    assert result.exit_code == 0, result.output
    assert " 0 error(s)" in result.output.splitlines()[-1]


def test_errors_exit_1_with_a_path_line_col_rule_line_each():
    result = check(str(HERE / "broken"))
    assert result.exit_code == 1
    *lines, summary = result.output.splitlines()
    assert lines and all(LINE.match(line) for line in lines), lines
    plugins = sum(1 for p in (HERE / "broken").iterdir() if p.is_dir())
    assert summary.startswith(f"{plugins} plugins checked: ")
    first = LINE.match(lines[0])
    assert first is not None and Path(first["path"]).is_file()


def test_warnings_alone_pass_unless_strict():
    warnings_only = str(HERE / "broken" / "unguarded_objectid")
    assert check(warnings_only).exit_code == 0
    strict = check(warnings_only, "--strict")
    assert strict.exit_code == 1
    assert "objectid-unguarded [warning]" in strict.output


def test_clean_plugins_pass_even_when_strict():
    result = check(str(HERE / "clean"), "--strict")
    assert result.exit_code == 0
    assert result.output == "4 plugins checked: 0 error(s), 0 warning(s)\n"


def test_json_is_a_list_of_findings_with_stable_keys():
    result = check(str(HERE / "broken" / "sync_execute"), "--format", "json")
    assert result.exit_code == 1
    findings = json.loads(result.output)
    assert findings == [
        {
            "path": str(HERE / "broken" / "sync_execute" / "logic.py"),
            "line": 4,
            "col": 1,
            "rule": "entry-sync",
            "severity": "error",
            "message": findings[0]["message"],
        }
    ]
    assert "async def" in findings[0]["message"]


def test_json_of_a_clean_plugin_is_an_empty_list():
    result = check(str(HERE / "clean" / "full"), "--format", "json")
    assert (result.exit_code, json.loads(result.output)) == (0, [])


def test_a_folder_without_plugins_is_a_usage_error(tmp_path):
    result = check(str(tmp_path))
    assert result.exit_code == 2
    assert "no plugin in" in result.output


def test_the_default_path_is_the_plugins_folder(tmp_path, monkeypatch):
    shutil.copytree(HERE / "broken" / "raises", tmp_path / "plugins" / "raises")
    monkeypatch.chdir(tmp_path)
    result = check()
    assert result.exit_code == 1
    assert result.output.startswith("plugins/raises/logic.py:")
