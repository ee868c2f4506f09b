"""Each plugin folder imports as a package of its own: no folder name can take the
package, and so the modules, of another plugin."""

from __future__ import annotations

from pathlib import Path

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
]


def test_every_folder_name_has_a_package_of_its_own() -> None:
    packages = [package_name(name) for name in NAMES]
    assert len(set(packages)) == len(NAMES)
    for package in packages:
        root, leaf = package.split(".")
        assert root == "tessera_plugins" and leaf.isidentifier()
    assert package_name("notes") == "tessera_plugins.notes"  # a plain name is its own


def _plugin(root: Path, name: str, value: str) -> Path:
    folder = root / name
    folder.mkdir()
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
