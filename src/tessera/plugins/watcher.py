"""Hot reload: watch the plugins folder and reload each plugin whose files change."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from watchfiles import awatch

from tessera.plugins.registry import PluginRegistry

logger = logging.getLogger("tessera.plugins")


def changed_plugins(folder: Path, paths: set[str]) -> set[str]:
    """Names of the plugin folders that hold any of ``paths``."""
    names = set()
    for path in paths:
        try:
            relative = Path(path).relative_to(folder)
        except ValueError:
            continue
        if relative.parts and not relative.parts[0].startswith((".", "_")):
            names.add(relative.parts[0])
    return names


async def watch(registry: PluginRegistry, stop: asyncio.Event) -> None:
    """Reload changed plugins until ``stop`` is set; new folders load, removed ones unload."""
    folder = registry.folder.resolve()
    async for changes in awatch(folder, stop_event=stop, debounce=200, step=50):
        for name in sorted(changed_plugins(folder, {path for _, path in changes})):
            try:
                registry.reload(name)
            except Exception:
                logger.exception("reloading plugin %s failed", name)
