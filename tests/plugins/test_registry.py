"""Loading plugin folders: layouts, manifests, failures that never stop the others."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tessera.plugins.errors import ManifestError, PluginNotFound, PluginUnavailable
from tessera.plugins.manifest import parse_manifest, read_manifest
from tessera.plugins.registry import PluginRegistry


def test_every_plugin_folder_loads_and_failures_are_recorded(corpus: Path, services) -> None:
    registry = PluginRegistry(corpus)
    registry.load_all()
    assert set(registry.failures) == {"broken_syntax", "no_entry"}
    assert "syntax error in logic.py line 1" in registry.failures["broken_syntax"]
    assert "defines no execute(data) function" in registry.failures["no_entry"]
    assert registry.callable("echo").code is not None
    with pytest.raises(PluginUnavailable) as failed:
        registry.callable("broken_syntax")
    assert failed.value.load_error == registry.failures["broken_syntax"]
    with pytest.raises(PluginNotFound) as unknown:
        registry.callable("nope")
    assert not isinstance(unknown.value, PluginUnavailable)


def test_sync_and_async_entry_points_and_run_fallback(corpus: Path) -> None:
    registry = PluginRegistry(corpus)
    registry.load_all()
    assert registry.callable("echo").code.is_async
    assert not registry.callable("slow_sync").code.is_async
    backend = registry.callable("backend_layout")
    assert backend.code.entry.__name__ == "run"
    assert backend.manifest.display_name == "Backend layout"
    assert backend.manifest.version == "2.0.0"


def test_folders_without_logic_and_hidden_folders_are_not_plugins(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / ".git").mkdir()
    (tmp_path / "_private").mkdir()
    (tmp_path / "_private" / "logic.py").write_text("async def execute(d): return {}")
    assert PluginRegistry(tmp_path).discover() == []
    assert PluginRegistry(tmp_path / "missing").discover() == []


NOOP = "async def execute(d): return {}\n"


def loaded(folder: Path, name: str, logic: str, manifest: dict | None = None) -> PluginRegistry:
    """A registry of ``folder`` with every plugin loaded, after writing plugin ``name``."""
    plugin = folder / name
    plugin.mkdir()
    (plugin / "logic.py").write_text(logic)
    if manifest is not None:
        (plugin / "manifest.json").write_text(json.dumps(manifest))
    registry = PluginRegistry(folder)
    registry.load_all()
    return registry


def test_an_import_error_names_the_file_and_line(tmp_path: Path) -> None:
    registry = loaded(tmp_path, "bad", "import json\n\nraise ValueError('boom at import')\n")
    error = registry.failures["bad"]
    assert "logic.py line 3" in error
    assert "ValueError: boom at import" in error


def test_a_disabled_plugin_is_listed_but_not_callable(tmp_path: Path) -> None:
    registry = loaded(tmp_path, "off", NOOP, {"enabled": False})
    assert registry.get("off").public()["enabled"] is False
    with pytest.raises(PluginNotFound):
        registry.callable("off")


def test_reloading_reads_the_files_again(tmp_path: Path) -> None:
    registry = loaded(tmp_path, "counter", "VERSION = 1\n" + NOOP)
    (tmp_path / "counter" / "logic.py").write_text("VERSION = 2\n" + NOOP)
    reloaded = registry.load("counter")
    assert reloaded.code.module.VERSION == 2
    assert reloaded.generation == 1


def test_a_plugin_removed_and_added_again_never_repeats_a_generation(tmp_path: Path) -> None:
    registry = loaded(tmp_path, "comeback", NOOP)
    logic = tmp_path / "comeback" / "logic.py"
    logic.unlink()
    assert registry.reload("comeback") is None
    logic.write_text(NOOP)
    assert registry.reload("comeback").generation == 1


def test_manifest_defaults_without_a_file(tmp_path: Path) -> None:
    manifest = read_manifest(tmp_path, "my_plugin")
    assert manifest.display_name == "My Plugin"
    assert manifest.enabled is True
    assert manifest.timeout is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"timeout": "soon"}, "'timeout' must be int or float"),
        ({"timeout": True}, "'timeout' must be int or float"),
        ({"timeout": -1}, "must be positive"),
        ({"enabled": "yes"}, "'enabled' must be bool"),
        ({"version": 2}, "'version' must be str"),
        ({"needs_user_jwt": "yes"}, "'needs_user_jwt' must be bool"),
    ],
)
def test_manifest_values_of_the_wrong_type_are_refused(raw: dict, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        parse_manifest(raw, "p")


@pytest.mark.parametrize("text", ["{not json", "[" * 200_000])  # the second: too deep to parse
def test_unreadable_manifest_is_a_load_failure(tmp_path: Path, text: str) -> None:
    plugin = tmp_path / "p"
    plugin.mkdir()
    (plugin / "logic.py").write_text("async def execute(d): return {}\n")
    (plugin / "manifest.json").write_text(text)
    registry = PluginRegistry(tmp_path)
    registry.load_all()
    assert "manifest.json is not valid JSON" in registry.failures["p"]


def test_unknown_manifest_keys_are_kept(tmp_path: Path) -> None:
    manifest = parse_manifest({"display_name": "X", "shared_collections": ["catalog"]}, "x")
    assert manifest.extra == {"shared_collections": ["catalog"]}


def write_module_layout(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "handler.py").write_text("async def handle(data):\n    return {'ok': True}\n")
    (folder / "module.json").write_text('{"name": "successor", "entry": "handler.py"}')


def test_a_module_layout_folder_is_served_as_failed_saying_what_the_contract_expects(
    serve, tmp_path: Path
) -> None:
    plugins = tmp_path / "plugins"
    (plugins / "legacy").mkdir(parents=True)
    (plugins / "legacy" / "logic.py").write_text("async def execute(data):\n    return {}\n")
    write_module_layout(plugins / "successor")
    live = serve(plugins)
    with live.client("root", superadmin=True) as root:
        listed = {p["name"]: p for p in root.get("/api/plugins").json()["plugins"]}
        failed = root.get("/health").json()["plugins"]["failed"]
        assert root.post("/api/execute/successor", json={}).status_code >= 400
    assert (listed["legacy"]["status"], listed["successor"]["status"]) == ("enabled", "failed")
    error = listed["successor"]["error"]
    assert 'handler.py is the "module" layout (handler.py + module.json)' in error
    assert "logic.py" in error and "async def execute(data: dict) -> dict" in error
    assert failed["successor"] == error


def test_a_plugin_rewritten_to_the_module_layout_fails_instead_of_vanishing(corpus: Path) -> None:
    registry = PluginRegistry(corpus)
    registry.load_all()
    (corpus / "echo" / "logic.py").unlink()
    write_module_layout(corpus / "echo")
    assert registry.reload("echo") is not None
    assert '"module" layout' in registry.failures["echo"]
    with pytest.raises(PluginNotFound):
        registry.callable("echo")
