"""A bounded cache of verified tokens, so repeated requests skip signature checks."""

from __future__ import annotations

import time
from collections import OrderedDict

from tessera.auth.identity import Identity

# About 700 bytes an entry: 11 MB when full, enough for every user of a busy process.
DEFAULT_CACHE_SIZE = 16_384


class VerifiedTokens:
    """LRU map from a token string to its identity, valid until the token's ``exp``.

    Only tokens that passed full verification are stored, and the key is the whole
    token, so a token altered in any byte misses the cache.
    """

    def __init__(self, max_size: int = DEFAULT_CACHE_SIZE) -> None:
        self._max_size = max_size
        self._entries: OrderedDict[str, tuple[Identity, float]] = OrderedDict()

    def get(self, token: str) -> Identity | None:
        """The cached identity for ``token``, or None if absent or expired since."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        identity, expires_at = entry
        if time.time() >= expires_at:
            self._entries.pop(token, None)
            return None
        self._entries.move_to_end(token)
        return identity

    def put(self, token: str, identity: Identity, expires_at: float) -> None:
        """Remember a verified token until ``expires_at`` (seconds since the epoch)."""
        if self._max_size <= 0:
            return
        self._entries[token] = (identity, expires_at)
        self._entries.move_to_end(token)
        while len(self._entries) > self._max_size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
