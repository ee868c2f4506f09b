"""A queue served in turns across keys, so one caller's backlog delays no one else.

The reader threads take reads from one `FairQueue`, keyed by who asked. A plain FIFO
made everyone wait behind a caller that had queued many slow reads; here the keys with
queued items take turns, one item each, so an item waits behind at most one queued
item of each other key, however many that key has.

Turns alone cannot help once every consumer runs one key's long items: so while another
key has items waiting, a key holds at most `share` items taken and not yet `done` (the
engine: its readers less one), and the others get the next consumer that frees up. With
no one else waiting, a key may have every consumer.
"""

import queue
import threading
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["FairQueue"]

T = TypeVar("T")


class FairQueue(Generic[T]):
    """Items put under keys, taken one key at a time in turn, each key's in order.

    ``get`` blocks until an item is queued and returns it with its key, which the
    consumer hands back to ``done`` when the item is finished; after ``stop(n)``, `n`
    calls of ``get`` return None once the queue is empty, to end `n` consumers.

    :param share: the most items of one key taken and not done while another key has
        items waiting (None: no bound). A key over it keeps its turn for later.
    """

    def __init__(self, share: int | None = None) -> None:
        self._share = share
        self._lock = threading.Lock()
        self._lanes: dict[Hashable, deque[T]] = {}
        self._turns: deque[Hashable] = deque()  # the keys with items, next first
        self._taken: dict[Hashable, int] = {}  # items taken and not done, by key
        # One token per item and per stop: a consumer blocks in C, not on a Condition.
        self._tokens: queue.SimpleQueue[None] = queue.SimpleQueue()

    def put(self, key: Hashable, item: T) -> None:
        """Queue `item` behind the other items of `key`."""
        with self._lock:
            lane = self._lanes.get(key)
            if lane is None:
                self._lanes[key] = deque((item,))
                self._turns.append(key)
            else:
                lane.append(item)
        self._tokens.put(None)

    def get(self) -> tuple[Hashable, T] | None:
        """The next item of the key whose turn it is, and that key; None when stopped
        and empty."""
        self._tokens.get()
        with self._lock:
            if not self._turns:
                return None  # a stop's token: every item is taken
            turn = self._next_turn()
            key = self._turns[turn]
            del self._turns[turn]
            lane = self._lanes[key]
            item = lane.popleft()
            if lane:
                self._turns.append(key)
            else:
                del self._lanes[key]
            self._taken[key] = self._taken.get(key, 0) + 1
            return key, item

    def _next_turn(self) -> int:
        """The place in `_turns` of the first key within its share (the first if none)."""
        share = self._share
        if share is None or len(self._turns) == 1:
            return 0  # no bound, or no one else waiting
        for turn, key in enumerate(self._turns):
            if self._taken.get(key, 0) < share:
                return turn
        return 0

    def done(self, key: Hashable) -> None:
        """An item of `key` that ``get`` returned is finished."""
        with self._lock:
            left = self._taken[key] - 1
            if left:
                self._taken[key] = left
            else:
                del self._taken[key]

    def stop(self, consumers: int) -> None:
        """End `consumers` consumers once the items queued before have been taken."""
        for _ in range(consumers):
            self._tokens.put(None)
