"""WebSocket presence: which users of an app have a socket open on any process."""

from tessera.services.presence.base import Presence, PresenceStore

__all__ = ["Presence", "PresenceStore"]
