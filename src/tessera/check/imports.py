"""Imports of the contract's services must name what the contract defines, in either
generation (``core.*``, or ``mozaiks_infra.*``/``mozaiks_platform.*``), so a plugin runs on
Tessera and on MozaiksCore alike; names Tessera refuses are reported with their
replacement."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from tessera.check.findings import Finding
from tessera.check.source import Source
from tessera.services.unprovided import REFUSED

_DATABASE = frozenset({"db", "settings_collection", "users_collection"})
_EVENT_BUS = frozenset({"event_bus", "on_event"})
CONTRACT: dict[str, frozenset[str]] = {
    "core": frozenset(
        {
            "config",
            "event_bus",
            "notifications",
            "notifications_manager",
            "settings_manager",
            "websocket_manager",
        }
    ),
    "core.config": frozenset({"database"}),
    "core.config.database": _DATABASE,
    "core.event_bus": _EVENT_BUS,
    "core.notifications": frozenset({"broadcast_service", "email_channel", "in_app_channel"}),
    "core.notifications_manager": frozenset({"notifications_manager"}),
    "core.settings_manager": frozenset({"settings_manager"}),
    "core.websocket_manager": frozenset({"websocket_manager"}),
    "mozaiks_infra": frozenset({"config", "event_bus", "websocket_manager"}),
    "mozaiks_infra.config": frozenset({"database"}),
    "mozaiks_infra.config.database": _DATABASE,
    "mozaiks_infra.event_bus": _EVENT_BUS,
    "mozaiks_infra.websocket_manager": frozenset({"websocket_manager"}),
    "mozaiks_platform": frozenset({"notifications_manager", "settings_manager"}),
    "mozaiks_platform.notifications_manager": frozenset({"notifications_manager"}),
    "mozaiks_platform.settings_manager": frozenset({"settings_manager"}),
}
#: The current generation's modules and the ``core`` modules they are.
CURRENT_GENERATION = {
    "mozaiks_infra.config.database": "core.config.database",
    "mozaiks_infra.event_bus": "core.event_bus",
    "mozaiks_infra.websocket_manager": "core.websocket_manager",
    "mozaiks_platform.notifications_manager": "core.notifications_manager",
    "mozaiks_platform.settings_manager": "core.settings_manager",
}
_ROOTS = ("core", "mozaiks_infra", "mozaiks_platform")


def check_imports(source: Source) -> Iterator[Finding]:
    """Findings for contract modules or names that do not exist, or that Tessera refuses."""
    for node in ast.walk(source.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _is_contract(alias.name) and alias.name not in CONTRACT:
                    yield _unknown_module(source, node, alias.name)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and _is_contract(node.module):
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
                elif (why := _refused(module, alias.name)) is not None:
                    yield source.finding(
                        node,
                        "core-import",
                        f"{module}.{alias.name} is not provided by Tessera "
                        f"(using it raises NotProvided): {why}",
                    )


def _refused(module: str, name: str) -> str | None:
    return REFUSED.get(f"{CURRENT_GENERATION.get(module, module)}.{name}")


def _is_contract(module: str | None) -> bool:
    return module is not None and any(
        module == root or module.startswith(root + ".") for root in _ROOTS
    )


def _unknown_module(source: Source, node: ast.AST, module: str) -> Finding:
    root = module.partition(".")[0]
    modules = ", ".join(m for m in CONTRACT if m.startswith(root + "."))
    return source.finding(
        node,
        "core-import",
        f"{module} is not a module of the plugin contract: use one of {modules}",
    )
