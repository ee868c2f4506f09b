"""Checking a plugin folder, or a folder of plugins, against the contract's rules.

A folder holding ``logic.py`` or ``backend/logic.py`` is a plugin; otherwise each of its
sub-folders that holds one is. A folder in the successor "module" layout (``handler.py`` +
``module.json``) is reported, since it does not load. Every module of a plugin is checked
except its tests; the entry-point rules apply to ``logic.py``.
"""

from __future__ import annotations

from pathlib import Path

from tessera.check.entry import check_entry
from tessera.check.findings import Finding
from tessera.check.imports import check_imports
from tessera.check.inputs import check_inputs
from tessera.check.report import Report
from tessera.check.scoping import check_scoping
from tessera.check.source import Source
from tessera.plugins.errors import PluginError
from tessera.plugins.loader import (
    ENTRY_POINTS,
    find_logic,
    is_plugin_folder,
    module_layout,
    module_layout_problem,
)
from tessera.plugins.manifest import MANIFEST_FILE, read_manifest

SHARED_KEY = "shared_collections"
_NOT_PLUGIN_CODE = frozenset({"tests", "test", "venv", "node_modules", "site-packages"})


def check_path(path: Path) -> Report:
    """Check the plugin at ``path``, or every plugin in it; ValueError when there is none."""
    folders = plugin_folders(path)
    if not folders:
        raise ValueError(f"no plugin in {path}: a plugin folder holds logic.py or backend/logic.py")
    report = Report()
    for folder in folders:
        report.plugins.append(folder.name)
        report.findings += check_plugin(folder)
    report.findings.sort()
    return report


def plugin_folders(path: Path) -> list[Path]:
    """``path`` itself when it is a plugin, else its sub-folders that are plugins."""
    if not path.is_dir():
        return []
    if is_plugin_folder(path):
        return [path]
    return [
        entry
        for entry in sorted(path.iterdir())
        if entry.is_dir() and not entry.name.startswith((".", "_")) and is_plugin_folder(entry)
    ]


def check_plugin(folder: Path) -> list[Finding]:
    """Every finding for one plugin folder."""
    logic = find_logic(folder)
    if logic is None:
        found = module_layout(folder)
        if found is None:
            return []
        return [
            Finding(str(found), 1, 1, "module-layout", module_layout_problem(folder.name, found))
        ]
    shared, findings = _shared_collections(folder, logic)
    sources: list[Source] = []
    for module in _modules(folder):
        try:
            sources.append(Source.parse(str(module), module.read_text(encoding="utf-8")))
        except SyntaxError as exc:
            findings.append(
                Finding(
                    str(module),
                    exc.lineno or 1,
                    exc.offset or 1,
                    "syntax-error",
                    f"{exc.msg}: the plugin cannot load until this parses",
                )
            )
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            findings.append(Finding(str(module), 1, 1, "syntax-error", f"cannot read: {exc}"))
    entry = next((s for s in sources if s.path == str(logic)), None)
    client = frozenset({"data", *([_client_param(entry)] if entry else [])})
    for source in sources:
        if source is entry:
            findings += check_entry(source)
        findings += check_imports(source)
        findings += check_scoping(source, shared)
        findings += check_inputs(source, client)
    return findings


def _modules(folder: Path) -> list[Path]:
    """The plugin's Python files, without its tests, caches and bundled environments."""
    return [
        path
        for path in sorted(folder.rglob("*.py"))
        if not any(
            part.startswith((".", "__")) or part in _NOT_PLUGIN_CODE
            for part in path.relative_to(folder).parts[:-1]
        )
        and not path.name.startswith("test_")
        and not path.name.endswith("_test.py")
        and path.name != "conftest.py"
    ]


def _shared_collections(folder: Path, logic: Path) -> tuple[frozenset[str], list[Finding]]:
    """The manifest's ``shared_collections``; a finding when the manifest is unusable."""
    # The manifest sits beside logic.py: in the folder, or in backend/.
    where = folder if (folder / MANIFEST_FILE).is_file() else logic.parent
    path = str(where / MANIFEST_FILE)
    try:
        manifest = read_manifest(where, folder.name)
    except PluginError as exc:
        return frozenset(), [Finding(path, 1, 1, "manifest-invalid", str(exc))]
    shared = manifest.extra.get(SHARED_KEY, [])
    if not isinstance(shared, list) or not all(isinstance(n, str) for n in shared):
        message = f"{SHARED_KEY} must be a list of collection names, got {shared!r}"
        return frozenset(), [Finding(path, 1, 1, "manifest-invalid", message)]
    return frozenset(shared), []


def _client_param(source: Source) -> str:
    """The name of the entry point's first parameter: the client's data."""
    for name in ENTRY_POINTS:
        func = source.functions.get(name)
        if func is not None and func.args.args:
            return func.args.args[0].arg
    return "data"
