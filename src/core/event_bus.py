"""``event_bus`` and ``on_event``: publish events and subscribe handlers."""

from tessera.services.event_bus import event_bus, on_event

__all__ = ["event_bus", "on_event"]
