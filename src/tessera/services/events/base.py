"""The interface between the event bus and the transport that carries its events.

The bus owns subscriptions and runs handlers; a backend decides which process delivers a
published event. The in-process backend delivers at once; a cluster backend (Redis) hands
the event to whichever process should handle it.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Event:
    """One published event: its name, its payload and the publisher's context."""

    name: str
    payload: Any
    # The publisher's context variables (who called, which request): handlers run in a copy.
    context: contextvars.Context


Deliver = Callable[[Event], None]


class EventBackend(Protocol):
    """Carries events from ``publish`` to ``deliver``; called on the runtime's loop only."""

    #: True when events are handled only in this process, so an event that no
    #: subscription here matches can be dropped before it is copied.
    local: bool

    def start(self, deliver: Deliver) -> None:
        """Begin delivering events to ``deliver`` (which schedules the handlers)."""

    def publish(self, event: Event) -> None:
        """Hand ``event`` over for delivery; never blocks and never raises for a handler."""

    async def stop(self) -> None:
        """Stop delivering; events published afterwards are dropped."""
