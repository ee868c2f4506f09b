"""Each plugin folder imports as a package of its own: no folder name can take the
package, and so the modules, of another plugin."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import pytest

from tessera.plugins.errors import PluginNotFound
from tessera.plugins.loader import import_plugin, package_name, unload

NAMES = [
    "notes",
    "shop-tools",
    "shop_tools",
    "shop tools",
    "shop_tools_28ef",  # what "shop-tools" was named with a 16-bit hash
    "shop_tools__9d83ec24bb8933f8",  # what it is named now
    "a__b",
    "a--b",
    "1abc",
    "_1abc",
    "café",
    "x.y",
    "ﬁle",  # "file" as Python reads it in code (NFKC)
    "x²",
]


def test_every_folder_name_has_a_package_of_its_own() -> None:
    packages = [package_name(name) for name in NAMES]
    assert len(set(packages)) == len(NAMES)
    for package in packages:
        root, leaf = package.split(".")
        assert root == "tessera_plugins" and leaf.isidentifier()
        assert unicodedata.normalize("NFKC", leaf) == leaf  # as an import reads it
    assert package_name("notes") == "tessera_plugins.notes"  # a plain name is its own


def _plugin(root: Path, name: str, value: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "helpers.py").write_text(f"VALUE = {value!r}\n")
    # The helper is imported at each call, as plugins import lazily: from whatever
    # package its own name finds in sys.modules then.
    (folder / "logic.py").write_text(
        "async def execute(data):\n    from .helpers import VALUE\n\n    return {'value': VALUE}\n"
    )
    return folder


async def test_a_folder_named_after_another_plugins_package_runs_none_of_its_code(
    tmp_path: Path,
) -> None:
    victim = _plugin(tmp_path, "shop-tools", "the shop's")
    squatter_name = package_name("shop-tools").rsplit(".", 1)[1]
    squatter = _plugin(tmp_path, squatter_name, "planted")
    try:
        shop = import_plugin("shop-tools", victim)
        planted = import_plugin(squatter_name, squatter)
        assert await shop.entry({}) == {"value": "the shop's"}
        assert await planted.entry({}) == {"value": "planted"}
    finally:
        unload(package_name("shop-tools"))
        unload(package_name(squatter_name))


async def test_a_plugin_importing_its_package_by_name_gets_its_own_not_a_lookalikes(
    serve, tmp_path: Path
) -> None:
    # Python reads names in code NFKC-normalised: "tessera_plugins.ﬁle" written in the
    # code of plugin "ﬁle" imported "tessera_plugins.file", plugin file's package.
    root = tmp_path / "plugins"
    _plugin(root, "file", "file's")
    ligature = _plugin(root, "ﬁle", "ﬁle's")
    own = package_name("ﬁle")
    (ligature / "logic.py").write_text(
        f"async def execute(data):\n    from {own} import helpers\n\n"
        "    return {'value': helpers.VALUE}\n"
    )
    live = serve(root)
    with live.client("alice") as alice:
        assert alice.post("/api/execute/file", json={}).json() == {"value": "file's"}
        assert alice.post("/api/execute/ﬁle", json={}).json() == {"value": "ﬁle's"}


def test_a_folder_whose_name_is_not_utf8_is_skipped_and_the_others_listed(
    serve, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Such a name can be neither asked for in a URL nor written in JSON: listed, it made
    # /api/plugins answer 500 to every client (and before, the server not start).
    root = tmp_path / "plugins"
    _plugin(root, "notes", "the notes'")
    unnamed = _plugin(root, os.fsdecode(b"r\xe9sum\xe9"), "latin-1")
    live = serve(root)
    with live.client("alice") as alice:
        listed = alice.get("/api/plugins")
        assert listed.status_code == 200, listed.text
        assert "notes" in listed.text and "sum" not in listed.text
        assert alice.post("/api/execute/notes", json={}).json() == {"value": "the notes'"}
    assert any(
        "b'r\\xe9sum\\xe9'" in r.getMessage() and "UTF-8" in r.getMessage() for r in caplog.records
    )
    with pytest.raises(PluginNotFound):  # what the watcher does when its files change
        live.runtime.plugins.reload(unnamed.name)
    assert live.runtime.plugins.get(unnamed.name) is None
