"""Importing one plugin folder as a Python package.

A plugin folder becomes the package ``tessera_plugins.<identifier>`` so that relative
imports inside it work (``from .settings import X``), with or without an ``__init__.py``
and whatever characters its folder name has (``my-plugin`` works). Its ``logic`` module
stays in ``sys.modules`` between calls, so module globals persist.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import inspect
import re
import sys
import types
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera.plugins.errors import PluginLoadError

PACKAGE_ROOT = "tessera_plugins"
LOGIC_LOCATIONS = ("logic.py", "backend/logic.py")
ENTRY_POINTS = ("execute", "run")
# The contract's successor "module" layout, which Tessera does not run: named on load.
MODULE_LAYOUT = ("handler.py", "module.json")


@dataclass(frozen=True)
class PluginCode:
    """The imported code of a plugin: its logic module and entry point."""

    package: str
    module: types.ModuleType
    entry: Callable[[dict[str, Any]], Any]
    is_async: bool


def find_logic(folder: Path) -> Path | None:
    """The plugin's ``logic.py``: at the top of the folder or under ``backend/``."""
    for location in LOGIC_LOCATIONS:
        candidate = folder / location
        if candidate.is_file():
            return candidate
    return None


def module_layout(folder: Path) -> Path | None:
    """The ``handler.py`` (or ``module.json``) of a folder in the successor "module" layout
    that has no ``logic.py``; None otherwise."""
    if find_logic(folder) is not None:
        return None
    return next((folder / f for f in MODULE_LAYOUT if (folder / f).is_file()), None)


def is_plugin_folder(folder: Path) -> bool:
    """A folder with ``logic.py``, or one in the module layout (loaded to say why not)."""
    return find_logic(folder) is not None or module_layout(folder) is not None


def module_layout_problem(name: str, found: Path) -> str:
    """Why a folder in the module layout does not load, and what the contract expects."""
    return (
        f'plugin {name!r}: {found.name} is the "module" layout (handler.py + module.json), '
        "which Tessera does not run: the MozaiksCore plugin contract expects logic.py (or "
        "backend/logic.py) defining `async def execute(data: dict) -> dict`; move the "
        "handler's code there"
    )


def package_name(plugin: str) -> str:
    """The dotted module name of a plugin folder name, one per name. An identifier with
    no double underscore is its own; any other name becomes one (other characters as
    ``_``) ending in ``__`` and a 64-bit hash of the whole name, an ending no name of the
    first kind has. (A 16-bit hash after one underscore let a folder named after another's
    result, ``shop_tools_28ef`` for ``shop-tools``, take that plugin's modules.) Both
    kinds are as Python reads names in code (NFKC): ``tessera_plugins.ﬁle`` written in
    plugin ``ﬁle``'s code imported ``tessera_plugins.file``, plugin ``file``'s package."""
    if plugin.isidentifier() and "__" not in plugin and _as_read(plugin) == plugin:
        return f"{PACKAGE_ROOT}.{plugin}"
    ident = re.sub(r"\W", "_", _as_read(plugin))
    if not ident[:1].isidentifier():
        ident = "_" + ident
    digest = hashlib.blake2b(plugin.encode("utf-8", "surrogatepass"), digest_size=8)
    return f"{PACKAGE_ROOT}.{ident}__{digest.hexdigest()}"


def _as_read(name: str) -> str:
    """``name`` as Python reads an identifier in code (NFKC-normalised)."""
    return unicodedata.normalize("NFKC", name)


def _ensure_root() -> None:
    if PACKAGE_ROOT not in sys.modules:
        root = types.ModuleType(PACKAGE_ROOT)
        root.__path__ = []
        sys.modules[PACKAGE_ROOT] = root


#: Counts unloads: what caches plugin code (the event bus's matching handlers) compares.
unloads = 0


def unload(package: str) -> None:
    """Forget every module of a plugin package, so the next import reads the files again."""
    global unloads
    unloads += 1
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[name]


def locate_logic(name: str, folder: Path) -> Path:
    """The plugin's ``logic.py``; PluginLoadError saying what to do when there is none."""
    logic = find_logic(folder)
    if logic is None and (found := module_layout(folder)) is not None:
        raise PluginLoadError(module_layout_problem(name, found))
    if logic is None:
        raise PluginLoadError(
            f"plugin {name!r}: no logic.py found (looked for {', '.join(LOGIC_LOCATIONS)})"
        )
    return logic


def import_plugin(name: str, folder: Path) -> PluginCode:
    """Import the plugin in ``folder`` afresh and return its entry point.

    Raises PluginLoadError naming the file and what to do when the folder has no
    ``logic.py``, the code fails to import, or it defines neither ``execute`` nor ``run``.
    """
    logic = locate_logic(name, folder)
    _ensure_root()
    package = package_name(name)
    unload(package)
    spec = _package_spec(package, folder)
    pkg = importlib.util.module_from_spec(spec)
    sys.modules[package] = pkg
    relative = logic.relative_to(folder).with_suffix("").as_posix().replace("/", ".")
    try:
        if spec.loader is not None:
            spec.loader.exec_module(pkg)
        module = importlib.import_module(f"{package}.{relative}")
    except BaseException as exc:
        unload(package)
        raise PluginLoadError(_describe_import_error(name, folder, exc)) from exc
    return PluginCode(package, module, *_entry_point(name, logic, module))


def _package_spec(package: str, folder: Path) -> importlib.machinery.ModuleSpec:
    """A package spec for the folder, run from its ``__init__.py`` when it has one."""
    init = folder / "__init__.py"
    if init.is_file():
        spec = importlib.util.spec_from_file_location(
            package, init, submodule_search_locations=[str(folder)]
        )
        if spec is None:  # pragma: no cover - only for paths importlib cannot represent
            raise PluginLoadError(f"cannot import a package from {folder}")
        return spec
    spec = importlib.machinery.ModuleSpec(package, None, is_package=True)
    spec.submodule_search_locations = [str(folder)]
    return spec


def _entry_point(
    name: str, logic: Path, module: types.ModuleType
) -> tuple[Callable[..., Any], bool]:
    for attr in ENTRY_POINTS:
        entry = getattr(module, attr, None)
        if callable(entry):
            return entry, inspect.iscoroutinefunction(entry)
    raise PluginLoadError(
        f"plugin {name!r}: {logic.name} defines no execute(data) function "
        "(add `async def execute(data: dict) -> dict`)"
    )


def _describe_import_error(name: str, folder: Path, exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        where = Path(exc.filename).name if exc.filename else "?"
        return f"plugin {name!r}: syntax error in {where} line {exc.lineno}: {exc.msg}"
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename).is_relative_to(folder):
            line = f"{Path(tb.tb_frame.f_code.co_filename).name} line {tb.tb_lineno}"
        tb = tb.tb_next
    place = f" ({line})" if line else ""
    return f"plugin {name!r}: import failed{place}: {type(exc).__name__}: {exc}"
