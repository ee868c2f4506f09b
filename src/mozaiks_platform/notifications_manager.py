"""``core.notifications_manager`` under the contract's current name: the same object."""

from core.notifications_manager import notifications_manager

__all__ = ["notifications_manager"]
