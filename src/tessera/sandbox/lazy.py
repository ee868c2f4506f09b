"""What the server can tell about a sandboxed plugin without running its code.

A sandboxed plugin is imported by its first worker, at its first call, so loading a folder
of plugins starts no worker for most of them. What a load must still report is found here
by reading the files: a syntax error anywhere, or a module the plugin imports at the top of
a file that is not installed. An error its code raises while importing shows at the first
call (and the plugin is then reported failed). A plugin that subscribes to events must be
imported at load, or its handlers would miss what is published before its first call.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from pathlib import Path

from tessera.plugins.errors import PluginLoadError
from tessera.plugins.loader import locate_logic, package_name
from tessera.plugins.registry import precheck
from tessera.sandbox.bubblewrap import RUNTIME_PACKAGES

# The contract's two ways to subscribe: @on_event(...) and event_bus.subscribe(...).
_SUBSCRIBES = re.compile(rb"\b(on_event|subscribe)\b")


def problem(name: str, folder: Path) -> str | None:
    """Why plugin ``name`` in ``folder`` cannot load, found without running it; None when
    it looks loadable."""
    try:
        locate_logic(name, folder)
    except PluginLoadError as exc:
        return str(exc)
    return precheck(name, folder) or _missing_module(name, folder)


def subscribes(folder: Path) -> bool:
    """Whether the plugin's code names a way to subscribe to events."""
    return any(_SUBSCRIBES.search(source.read_bytes()) for source in folder.rglob("*.py"))


def _missing_module(name: str, folder: Path) -> str | None:
    """The first module-level ``import`` of a module that is not installed."""
    own = {package_name(name).split(".")[0], *RUNTIME_PACKAGES}
    for source in sorted(folder.rglob("*.py")):
        tree = ast.parse(source.read_bytes(), str(source))
        for statement in tree.body:
            if isinstance(statement, ast.Import):
                modules = [alias.name for alias in statement.names]
            elif isinstance(statement, ast.ImportFrom) and statement.level == 0:
                modules = [statement.module or ""]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top not in own and not _installed(top):
                    where = source.relative_to(folder).as_posix()
                    return (
                        f"plugin {name!r}: {where} line {statement.lineno} imports "
                        f"{module!r}, which is not installed"
                    )
    return None


def _installed(module: str) -> bool:
    if module in sys.modules:
        return True
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
