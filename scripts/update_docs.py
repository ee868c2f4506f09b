"""Regenerate the generated parts of the docs (``make docs``): the README's settings table
and the rules table of docs/check.md."""

import re
from pathlib import Path

from tessera.check.findings import RULES
from tessera.settings import settings_markdown

ROOT = Path(__file__).resolve().parent.parent


def rules_markdown() -> str:
    rows = ["| rule | severity | what it finds |", "|---|---|---|"]
    rows += [f"| `{r.id}` | {r.severity} | {r.summary} |" for r in RULES.values()]
    return "\n".join(rows)


def replace_block(path: Path, name: str, content: str) -> None:
    block = re.compile(rf"(<!-- {name}:start -->)\n.*?(<!-- {name}:end -->)", re.S)
    text = path.read_text()
    path.write_text(block.sub(lambda m: f"{m.group(1)}\n{content}\n{m.group(2)}", text))


if __name__ == "__main__":
    replace_block(ROOT / "README.md", "settings", settings_markdown())
    replace_block(ROOT / "docs" / "configuration.md", "settings", settings_markdown())
    replace_block(ROOT / "docs" / "check.md", "rules", rules_markdown())
