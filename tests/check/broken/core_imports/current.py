"""Imports of the current generation's names (mozaiks_infra, mozaiks_platform) and of
the reference's other core names: unknown ones, and ones Tessera refuses.
"""

import mozaiks_infra.cache  # finding: core-import
from mozaiks_infra.notifications_manager import notifications_manager  # finding: core-import

from core.config.database import settings_collection  # finding: core-import
from core.notifications import broadcast_service, in_app_channel  # finding: core-import
from mozaiks_infra.config.database import db, users_collection
from mozaiks_platform.settings_manager import settings  # finding: core-import

__all__ = [
    "broadcast_service",
    "db",
    "in_app_channel",
    "mozaiks_infra",
    "notifications_manager",
    "settings",
    "settings_collection",
    "users_collection",
]
