"""WebSocket messages sent while Redis is unreachable, kept to be handed over.

During an outage a process numbers each user's messages itself, following the last
number it knows (its own sockets' or Redis's), delivers them to its own sockets and keeps
them here, in order, up to a bound: past it the oldest go, counted and logged. When Redis
returns they are written to the shared resume window under the same numbers and sent to
the other processes (fanout/redis.py).
"""

from __future__ import annotations

import collections
import itertools
import logging
from dataclasses import dataclass

logger = logging.getLogger("tessera.websocket")

#: Messages kept per process during an outage; past it the oldest are dropped.
MAX_HELD = 10_000
# Users whose last number is remembered; past it the oldest are forgotten.
_MAX_KNOWN = 100_000


@dataclass(frozen=True, slots=True)
class Held:
    """One message kept during an outage, with the number its local sockets saw."""

    app_id: str
    user_id: str
    seq: int
    text: str
    #: Recognises it in Redis if it got there although Redis failed to answer.
    id: str
    #: Already in Redis's resume window: only the other processes have yet to get it.
    numbered: bool = False


class HeldMessages:
    """The outage's messages of this process, oldest first, and each user's last number."""

    def __init__(self, limit: int = MAX_HELD) -> None:
        self.limit = limit
        self._held: collections.deque[Held] = collections.deque()
        self._known: dict[tuple[str, str], int] = {}
        # Numbered here, not yet seen by the fan-out's publish.
        self._numbered: set[tuple[str, str, int]] = set()
        #: Messages dropped because the bound was reached.
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._held)

    def saw(self, app_id: str, user_id: str, seq: int) -> None:
        """Remember ``seq`` as the user's latest number (from Redis or a delivery)."""
        key = (app_id, user_id)
        if seq > self._known.get(key, 0):
            self._known[key] = seq
            if len(self._known) > _MAX_KNOWN:
                for old in list(itertools.islice(self._known, _MAX_KNOWN // 10)):
                    del self._known[old]

    def number(self, app_id: str, user_id: str, text: str, message_id: str) -> int:
        """Number ``text`` after the user's last known message and keep it."""
        seq = self._known.get((app_id, user_id), 0) + 1
        self.keep(Held(app_id, user_id, seq, text, message_id))
        self._numbered.add((app_id, user_id, seq))
        return seq

    def holds(self, app_id: str, user_id: str, seq: int) -> bool:
        """Whether the message was numbered here (once: the fan-out asks right after)."""
        key = (app_id, user_id, seq)
        if key in self._numbered:
            self._numbered.discard(key)
            return True
        return False

    def keep(self, message: Held) -> None:
        self.saw(message.app_id, message.user_id, message.seq)
        self._held.append(message)
        if len(self._held) > self.limit:
            lost = self._held.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                logger.warning(
                    "WebSocket message %d of user %s dropped from the outage outbox (%d "
                    "kept at most; %d dropped so far): other processes will not get it",
                    lost.seq,
                    lost.user_id,
                    self.limit,
                    self.dropped,
                )

    def since(
        self, app_id: str, user_id: str, after: int, until: int | None
    ) -> list[tuple[int, str]]:
        """The kept messages of a user with ``after < seq <= until``, oldest first."""
        return [
            (m.seq, m.text)
            for m in self._held
            if m.app_id == app_id
            and m.user_id == user_id
            and m.seq > after
            and (until is None or m.seq <= until)
        ]

    def oldest(self, count: int) -> list[Held]:
        """Up to ``count`` of the oldest kept messages (still kept)."""
        return list(itertools.islice(self._held, count))

    def handed_over(self, message: Held) -> None:
        """``message`` reached Redis: forget it (unless the bound dropped it already)."""
        if self._held and self._held[0] is message:
            self._held.popleft()
