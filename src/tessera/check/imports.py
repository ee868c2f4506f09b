"""``core.*`` imports must name what the contract defines, so a plugin runs on Tessera and
on MozaiksCore alike."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from tessera.check.findings import Finding
from tessera.check.source import Source

CONTRACT: dict[str, frozenset[str]] = {
    "core": frozenset(
        {"config", "event_bus", "notifications_manager", "settings_manager", "websocket_manager"}
    ),
    "core.config": frozenset({"database"}),
    "core.config.database": frozenset({"db"}),
    "core.event_bus": frozenset({"event_bus", "on_event"}),
    "core.notifications_manager": frozenset({"notifications_manager"}),
    "core.settings_manager": frozenset({"settings_manager"}),
    "core.websocket_manager": frozenset({"websocket_manager"}),
}
_MODULES = ", ".join(m for m in CONTRACT if m != "core")


def check_imports(source: Source) -> Iterator[Finding]:
    """Findings for ``core`` modules or names the contract does not have."""
    for node in ast.walk(source.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _is_core(alias.name) and alias.name not in CONTRACT:
                    yield _unknown_module(source, node, alias.name)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and _is_core(node.module):
            module = node.module or ""
            if module not in CONTRACT:
                yield _unknown_module(source, node, module)
                continue
            for alias in node.names:
                if alias.name != "*" and alias.name not in CONTRACT[module]:
                    provided = ", ".join(sorted(CONTRACT[module]))
                    yield source.finding(
                        node,
                        "core-import",
                        f"{module} has no {alias.name!r}: it provides {provided}",
                    )


def _is_core(module: str | None) -> bool:
    return module is not None and (module == "core" or module.startswith("core."))


def _unknown_module(source: Source, node: ast.AST, module: str) -> Finding:
    return source.finding(
        node,
        "core-import",
        f"{module} is not a module of the plugin contract: use one of {_MODULES}",
    )
