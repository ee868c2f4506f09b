"""Event transports: how a published event reaches the subscriptions that handle it."""

from tessera.services.events.base import Deliver, Event, EventBackend
from tessera.services.events.local import LocalEventBackend

__all__ = ["Deliver", "Event", "EventBackend", "LocalEventBackend"]
