"""``tessera new plugin NAME``: a plugin folder that follows the contract and tests itself."""

from tessera.scaffold.plugin_folder import ScaffoldError, new_plugin

__all__ = ["ScaffoldError", "new_plugin"]
