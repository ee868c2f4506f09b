"""``notifications_manager``: create and manage a user's notifications."""

from tessera.services.notifications import notifications_manager

__all__ = ["notifications_manager"]
