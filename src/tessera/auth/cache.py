"""A bounded cache of verified tokens, so repeated requests skip signature checks."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Collection

from tessera.auth.identity import Identity

# About 700 bytes an entry: 11 MB when full, enough for every user of a busy process.
DEFAULT_CACHE_SIZE = 16_384


class VerifiedTokens:
    """LRU map from a token string to its identity, valid until the token's ``exp``.

    Only tokens that passed full verification are stored, and the key is the whole
    token, so a token altered in any byte misses the cache. Each entry notes the id of
    the key that verified it, so tokens of a key withdrawn by the provider can be dropped.
    """

    def __init__(self, max_size: int = DEFAULT_CACHE_SIZE) -> None:
        self._max_size = max_size
        self._entries: OrderedDict[str, tuple[Identity, float, str]] = OrderedDict()

    def get(self, token: str) -> Identity | None:
        """The cached identity for ``token``, or None if absent or expired since."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        identity, expires_at, _ = entry
        if time.time() >= expires_at:
            self._entries.pop(token, None)
            return None
        self._entries.move_to_end(token)
        return identity

    def put(self, token: str, identity: Identity, expires_at: float, key_id: str = "") -> None:
        """Remember a token verified with key ``key_id`` until ``expires_at`` (seconds
        since the epoch)."""
        if self._max_size <= 0:
            return
        self._entries[token] = (identity, expires_at, key_id)
        self._entries.move_to_end(token)
        while len(self._entries) > self._max_size:
            self._entries.popitem(last=False)

    def forget(self, key_ids: Collection[str]) -> None:
        """Drop the tokens verified with any of ``key_ids``."""
        for token in [t for t, entry in self._entries.items() if entry[2] in key_ids]:
            del self._entries[token]

    def __len__(self) -> int:
        return len(self._entries)
