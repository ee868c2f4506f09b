"""The docs' examples run: every ```python block that starts with `# file: PATH` is written
out, each page's plugins must pass `tessera check`, and its tests must pass."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tessera.cli import main

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"```python\n# file: (\S+)\n(.*?)```", re.S)
PAGES = sorted(p for p in DOCS.glob("*.md") if BLOCK.search(p.read_text()))


def write_examples(page: Path, root: Path) -> list[Path]:
    files = []
    for relative, code in BLOCK.findall(page.read_text()):
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(code)
        files.append(target)
    return files


def test_the_docs_have_examples_to_run():
    assert {p.name for p in PAGES} >= {"getting-started.md", "testing.md"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_a_pages_examples_check_clean_and_pass_their_tests(page: Path, tmp_path: Path) -> None:
    files = write_examples(page, tmp_path)
    plugins = tmp_path / "plugins"
    if plugins.is_dir():
        checked = CliRunner().invoke(main, ["check", str(plugins)])
        assert checked.exit_code == 0, checked.output
    if any(f.name.startswith("test_") for f in files):
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
