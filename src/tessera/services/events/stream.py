"""Appending events to the cluster's Redis stream: at once, or once for what was kept.

Events accepted while Redis answers are appended as they come, many in a round trip. An
event kept through an outage is appended at most once, whoever sends it and however
often: its id is remembered in Redis for a day (a key per kept event, only those), and
an event whose first append had no answer (Redis failing during it) is first looked for
in the stream, from when that append began.
"""

from __future__ import annotations

from typing import Any

from tessera.cluster.link import Cluster

#: Entries the stream keeps (approximately) for groups that fall behind.
MAX_STREAM = 1_000_000
#: Field of a kept event whose first append may have reached the stream: when it began
#: (milliseconds, Redis's clock as in entry ids).
TRIED_AT = "tried_at"
# Entries looked through for such events, at most.
_SEARCH_LIMIT = 100_000
_SEARCH_PAGE = 1000

# KEYS: stream, the event's id key. ARGV: max stream length, then field, value pairs.
_APPEND_ONCE = """
if redis.call('SET', KEYS[2], 1, 'NX', 'EX', 86400) then
  return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 2))
end
return false
"""


class EventStream:
    """The stream of one cluster's events."""

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster
        self.key = cluster.key("events")
        self._append_once = cluster.redis.register_script(_APPEND_ONCE)

    async def append(self, batch: list[dict[str, bytes]]) -> None:
        """Append ``batch`` in one round trip."""
        async with self._cluster.redis.pipeline(transaction=False) as pipe:
            for fields in batch:
                pipe.xadd(self.key, fields, maxlen=MAX_STREAM, approximate=True)
            await pipe.execute()

    async def append_kept(self, batch: list[dict[str, Any]]) -> None:
        """Append the kept events of ``batch`` that the stream has not had, in order."""
        there = await self._already_there(batch)
        async with self._cluster.redis.pipeline(transaction=False) as pipe:
            for fields in batch:
                if fields["id"] in there:
                    continue
                pairs = [x for k, v in fields.items() if k != TRIED_AT for x in (k, v)]
                keys = [self.key, self._cluster.key("events", "id", fields["id"].decode())]
                await self._append_once(keys=keys, args=[MAX_STREAM, *pairs], client=pipe)
            await pipe.execute()

    async def _already_there(self, batch: list[dict[str, Any]]) -> set[bytes]:
        """The ids of the batch's events whose unanswered append reached the stream."""
        tried = [int(fields[TRIED_AT]) for fields in batch if TRIED_AT in fields]
        if not tried:
            return set()
        wanted = {fields["id"] for fields in batch if TRIED_AT in fields}
        found: set[bytes] = set()
        start = f"{min(tried)}-0"
        for _ in range(_SEARCH_LIMIT // _SEARCH_PAGE):
            page = await self._cluster.redis.xrange(self.key, start, "+", count=_SEARCH_PAGE)
            found |= {f[b"id"] for _, f in page if f.get(b"id") in wanted}
            if len(page) < _SEARCH_PAGE or found == wanted:
                break
            start = "(" + page[-1][0].decode()
        return found
