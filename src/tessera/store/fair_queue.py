"""A queue served in turns across keys, so one caller's backlog delays no one else.

The reader threads take reads from one `FairQueue`, keyed by who asked. A plain FIFO
made everyone wait behind a caller that had queued many slow reads; here the keys with
queued items take turns, one item each, so an item waits behind at most one queued
item of each other key, however many that key has.
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

    ``get`` blocks until an item is queued; after ``stop(n)``, `n` calls of ``get``
    return None once the queue is empty, to end `n` consumers.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lanes: dict[Hashable, deque[T]] = {}
        self._turns: deque[Hashable] = deque()  # the keys with items, next first
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

    def get(self) -> T | None:
        """The next item of the key whose turn it is; None when stopped and empty."""
        self._tokens.get()
        with self._lock:
            if not self._turns:
                return None  # a stop's token: every item is taken
            key = self._turns.popleft()
            lane = self._lanes[key]
            item = lane.popleft()
            if lane:
                self._turns.append(key)
            else:
                del self._lanes[key]
            return item

    def stop(self, consumers: int) -> None:
        """End `consumers` consumers once the items queued before have been taken."""
        for _ in range(consumers):
            self._tokens.put(None)
