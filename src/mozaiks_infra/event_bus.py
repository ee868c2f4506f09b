"""``core.event_bus`` under the contract's current name: the same objects."""

from core.event_bus import event_bus, on_event

__all__ = ["event_bus", "on_event"]
