"""Regenerate the README's configuration table from the settings table (``make docs``)."""

import re
from pathlib import Path

from tessera.settings import settings_markdown

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"(<!-- settings:start -->)\n.*?(<!-- settings:end -->)", re.S)

text = README.read_text()
README.write_text(BLOCK.sub(lambda m: f"{m.group(1)}\n{settings_markdown()}\n{m.group(2)}", text))
