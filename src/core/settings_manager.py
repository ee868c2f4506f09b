"""``settings_manager``: each user's settings for a plugin, over its defaults."""

from tessera.services.plugin_settings import settings_manager

__all__ = ["settings_manager"]
