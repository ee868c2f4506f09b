"""The default fan-out: one process holds every connection, so deliver directly."""

from __future__ import annotations

from tessera.services.fanout.base import Deliver, UserMessage


class LocalFanout:
    """Delivers each message to this process's connections at once."""

    def __init__(self) -> None:
        self._deliver: Deliver | None = None

    def start(self, deliver: Deliver) -> None:
        self._deliver = deliver

    async def publish(self, message: UserMessage) -> None:
        if self._deliver is not None:
            await self._deliver(message)

    async def stop(self) -> None:
        self._deliver = None
