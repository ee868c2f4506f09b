"""``core.settings_manager`` under the contract's current name: the same object."""

from core.settings_manager import settings_manager

__all__ = ["settings_manager"]
