"""``db``: the calling app's database (PyMongo async interface); ``users_collection``: the
caller's own user record, read-only; ``settings_collection``: refused (use
``settings_manager``)."""

from tessera.services.database import db
from tessera.services.unprovided import refused
from tessera.services.users import users_collection

settings_collection = refused("core.config.database.settings_collection")

__all__ = ["db", "settings_collection", "users_collection"]
