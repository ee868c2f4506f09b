"""The default event backend: every event is handled in the process that published it."""

from __future__ import annotations

import logging

from tessera.services.events.base import Deliver, Event

logger = logging.getLogger("tessera.events")


class LocalEventBackend:
    """Delivers each event straight to this process's subscriptions."""

    local = True

    def __init__(self) -> None:
        self._deliver: Deliver | None = None

    def start(self, deliver: Deliver) -> None:
        self._deliver = deliver

    def publish(self, event: Event) -> None:
        if self._deliver is None:
            logger.warning("event %r dropped: the event bus is not running", event.name)
            return
        self._deliver(event)

    async def stop(self) -> None:
        self._deliver = None
