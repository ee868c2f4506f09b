"""The set of plugins a runtime serves, loaded from one folder.

Each sub-folder with a ``logic.py`` is a plugin (one in the successor "module" layout fails
to load, saying so). A plugin that fails to load is kept in the registry with its error, so
it is reported (log, ``/api/plugins``, ``/health``) without stopping the server or the other
plugins.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tessera.context import callerless_plugin
from tessera.entitlements.errors import ConfigError
from tessera.entitlements.spec import PluginEntitlements, read_entitlements
from tessera.plugins.errors import PluginError, PluginNotFound, PluginUnavailable
from tessera.plugins.loader import (
    PluginCode,
    find_logic,
    import_plugin,
    is_plugin_folder,
    unload,
)
from tessera.plugins.manifest import Manifest, default_manifest, read_manifest

if TYPE_CHECKING:
    from tessera.sandbox.host import Sandbox

logger = logging.getLogger("tessera.plugins")


@dataclass
class Plugin:
    """One plugin folder: its manifest, its code once imported, or why it failed."""

    name: str
    folder: Path
    manifest: Manifest
    code: PluginCode | None = None
    error: str | None = None
    enabled: bool = True
    generation: int = field(default=0)
    reload_error: str | None = None
    #: Its entitlements.yaml, validated; None when it has none.
    entitlements: PluginEntitlements | None = None

    @property
    def status(self) -> str:
        if self.error is not None:
            return "failed"
        return "enabled" if self.enabled else "disabled"

    def public(self) -> dict[str, Any]:
        """What ``GET /api/plugins`` shows a signed-in user."""
        info = self.manifest.public()
        info.update(enabled=self.enabled and self.error is None, status=self.status)
        if self.error is not None:
            info["error"] = self.error
        if self.reload_error is not None:
            info["error"] = f"still serving the previous version: {self.reload_error}"
        return info


class PluginRegistry:
    """Discovers, loads and hands out the plugins of one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._plugins: dict[str, Plugin] = {}
        # The last generation of each name, kept when a plugin is removed: a name's
        # generation never repeats, so what is cached per (name, generation) stays true.
        self._generations: dict[str, int] = {}
        self._unload_listeners: list[Callable[[str], None]] = []
        # Enable/disable decisions of an operator; they outlive reloads and manifests.
        self.overrides: dict[str, bool] = {}
        #: Where plugins whose code must not run in this process are loaded instead.
        self.sandbox: Sandbox | None = None

    def on_unload(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(name)`` whenever a plugin's code is dropped (unload or reload),
        so services can forget what that plugin registered."""
        self._unload_listeners.append(listener)

    def _forget(self, name: str) -> None:
        for listener in self._unload_listeners:
            listener(name)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(sorted(self._plugins.values(), key=lambda p: p.name))

    def __len__(self) -> int:
        return len(self._plugins)

    def discover(self) -> list[str]:
        """Names of the plugin folders: those holding a ``logic.py`` (or ``backend/logic.py``),
        and those in the module layout, which load as failed saying why."""
        if not self.folder.is_dir():
            return []
        return sorted(
            entry.name
            for entry in self.folder.iterdir()
            if entry.is_dir()
            and not entry.name.startswith((".", "_"))
            and is_plugin_folder(entry)
            and _nameable(entry.name)
        )

    def load_all(self) -> None:
        """Load every plugin of the folder; failures are recorded, never raised."""
        names = self.discover()
        for name in names:
            self.load(name)
        failed = [p.name for p in self._plugins.values() if p.error]
        logger.info(
            "loaded %d plugins from %s%s",
            len(self._plugins) - len(failed),
            self.folder,
            f"; failed: {', '.join(failed)}" if failed else "",
        )

    def load(self, name: str) -> Plugin:
        """(Re)load one plugin by folder name and return its entry."""
        folder = self.folder / name
        previous = self._plugins.get(name)
        try:
            manifest = read_manifest(_manifest_folder(folder), name)
            entitlements = read_entitlements(_manifest_folder(folder), name)
        except (PluginError, ConfigError) as exc:
            manifest = default_manifest(name)
            plugin = Plugin(name, folder, manifest, error=str(exc))
        else:
            enabled = self.overrides.get(name, manifest.enabled)
            plugin = Plugin(name, folder, manifest, enabled=enabled, entitlements=entitlements)
            if previous is not None:
                self._forget(name)
            token = callerless_plugin.set(name)
            try:
                plugin.code = self._import(name, folder, manifest)
            except PluginError as exc:
                plugin.error = str(exc)
            finally:
                callerless_plugin.reset(token)
        if name in self._generations:
            plugin.generation = self._generations[name] + 1
        self._generations[name] = plugin.generation
        if plugin.error:
            logger.error("plugin %s failed to load: %s", name, plugin.error)
        elif plugin.manifest.needs_user_jwt:
            # An operator should know which plugins can act as their callers elsewhere.
            logger.warning("plugin %s receives each caller's bearer token (needs_user_jwt)", name)
        self._plugins[name] = plugin
        return plugin

    def _import(self, name: str, folder: Path, manifest: Manifest) -> PluginCode:
        if self.sandbox is not None and self.sandbox.wants(manifest):
            return self.sandbox.load(name, folder, manifest)
        return import_plugin(name, folder)

    def reload(self, name: str) -> Plugin | None:
        """Load a changed plugin again, keeping the running version when the new one has a
        syntax or manifest error; drop a plugin whose folder is gone."""
        if name != Path(name).name or name.startswith((".", "_")) or not _nameable(name):
            raise PluginNotFound(f"Plugin {name!r} not found.")
        previous = self._plugins.get(name)
        folder = self.folder / name
        try:
            present = is_plugin_folder(folder)
        except OSError as exc:
            if exc.errno != errno.ENAMETOOLONG:
                raise
            raise PluginNotFound(f"Plugin {name!r} not found.") from None
        if not present:
            self.unload(name)
            logger.info("plugin %s removed", name)
            return None
        if previous is not None and previous.code is not None:
            problem = precheck(name, folder)
            if problem is not None:
                previous.reload_error = problem
                logger.error("plugin %s not reloaded, previous version serving: %s", name, problem)
                return previous
        plugin = self.load(name)
        logger.info("plugin %s reloaded (generation %d)", name, plugin.generation)
        return plugin

    def failed(self, name: str, error: str) -> None:
        """Record that plugin ``name`` failed to load after all: its code, imported later
        than its load (a sandboxed plugin's, at its first call), raised."""
        plugin = self._plugins.get(name)
        if plugin is None or plugin.code is None:
            return
        self._forget(name)
        plugin.code, plugin.error = None, error
        logger.error("plugin %s failed to load: %s", name, error)

    def set_enabled(self, name: str, enabled: bool) -> Plugin:
        """Enable or disable a plugin until told otherwise (reloads keep the choice)."""
        plugin = self._plugins.get(name)
        if plugin is None:
            raise PluginNotFound(f"Plugin {name!r} not found.")
        self.overrides[name] = enabled
        plugin.enabled = enabled
        return plugin

    def unload(self, name: str) -> None:
        """Remove a plugin and forget its modules."""
        plugin = self._plugins.pop(name, None)
        if plugin is not None:
            self._forget(name)
            if plugin.code is not None:
                unload(plugin.code.package)

    def get(self, name: str) -> Plugin | None:
        return self._plugins.get(name)

    def callable(self, name: str) -> Plugin:
        """The plugin ``name`` if it is loaded and enabled; PluginUnavailable when it is
        enabled but failed to load, PluginNotFound otherwise."""
        plugin = self._plugins.get(name)
        if plugin is None or plugin.code is None or not plugin.enabled:
            if plugin is not None and plugin.enabled and plugin.error is not None:
                raise PluginUnavailable(
                    f"Plugin {name!r} failed to load; the server log has the error.",
                    plugin.error,
                )
            raise PluginNotFound(f"Plugin {name!r} not found.")
        return plugin

    @property
    def failures(self) -> dict[str, str]:
        return {p.name: p.error for p in self._plugins.values() if p.error is not None}


def _nameable(name: str) -> bool:
    """Whether a folder name is text (UTF-8), as a plugin's name must be: one of other
    bytes can be neither asked for in a URL nor written in JSON, so listed it made
    ``/api/plugins`` fail for every client. Such a folder is skipped, saying why."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raw = name.encode("utf-8", "surrogateescape")
        logger.error("plugin folder %r skipped: its name is not UTF-8; rename it", raw)
        return False
    return True


def precheck(name: str, folder: Path) -> str | None:
    """Why the plugin's current files cannot load, found without running them: a manifest
    error or a syntax error in any of its modules; None when they look loadable."""
    try:
        read_manifest(_manifest_folder(folder), name)
        read_entitlements(_manifest_folder(folder), name)
    except (PluginError, ConfigError) as exc:
        return str(exc)
    for source in sorted(folder.rglob("*.py")):
        try:
            compile(source.read_bytes(), str(source), "exec")
        except SyntaxError as exc:
            where = source.relative_to(folder).as_posix()
            return f"plugin {name!r}: syntax error in {where} line {exc.lineno}: {exc.msg}"
        except (OSError, ValueError) as exc:
            return f"plugin {name!r}: cannot read {source.name}: {exc}"
    return None


def _manifest_folder(folder: Path) -> Path:
    """The manifest sits beside logic.py: in the folder, or in ``backend/``."""
    logic = find_logic(folder)
    if logic is not None and not (folder / "manifest.json").is_file():
        return logic.parent
    return folder
