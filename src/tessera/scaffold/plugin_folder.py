"""Writing a new plugin folder from the templates beside this module."""

from __future__ import annotations

import re
from pathlib import Path

TEMPLATES = Path(__file__).parent / "plugin"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


class ScaffoldError(Exception):
    """The plugin cannot be created (bad name, or the folder exists)."""


def new_plugin(name: str, plugins_dir: Path) -> list[Path]:
    """Create ``plugins_dir/name`` with logic, manifest and tests; return the files."""
    if not _NAME.match(name):
        raise ScaffoldError(
            f"{name!r} is not a plugin name: use letters, digits, '_' and '-', "
            "starting with a letter"
        )
    target = plugins_dir / name
    if target.exists():
        raise ScaffoldError(f"{target} already exists; choose another name or remove it")
    ident = name.replace("-", "_")
    written = []
    for template in sorted(TEMPLATES.rglob("*.tmpl")):
        relative = template.relative_to(TEMPLATES).as_posix().removesuffix(".tmpl")
        path = target / relative.replace("NAME", ident)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = template.read_text(encoding="utf-8")
        path.write_text(text.replace("{{name}}", name).replace("{{ident}}", ident))
        written.append(path)
    return written
