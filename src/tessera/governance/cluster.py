"""Rate limits, login throttles and concurrency caps counted across every process of a
cluster, in Redis.

A token bucket (a user's for a plugin, or the auth routes' for an address) is one Redis
hash updated by a Lua script, so processes never race on it; a call taking from several
buckets takes from all of them or none, in one script. A plugin's calls in flight are
members of a sorted set scored by when their lease ends: a process that dies holding
slots frees them when the leases run out (the plugin's timeout, plus a margin), not never.

While Redis is unreachable each process counts in its own buckets and slots (the base
class's), so a call is refused only by what this process has seen; the log says so once
per outage. Slots taken that way are given back in this process.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Sequence

import orjson

from tessera.cluster.link import UNREACHABLE, Cluster
from tessera.governance.governor import Governor, Key, Limits, Scope
from tessera.governance.rates import Rate
from tessera.settings import Settings

# KEYS: buckets. ARGV: each bucket's capacity and tokens per second, in turn. Takes a
# token from every bucket, or from none when any is empty (TokenBuckets.take_all).
# Returns the wait in seconds, as text (a Lua number would come back as an integer).
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local filled, wait = {}, 0
for i, key in ipairs(KEYS) do
  local capacity, rate = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local state = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(state[1]) or capacity
  local at = tonumber(state[2]) or now
  tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
  if tokens < 1 then wait = math.max(wait, (1 - tokens) / rate) end
  filled[i] = tokens
end
local spent = 0
if wait == 0 then spent = 1 end
for i, key in ipairs(KEYS) do
  local capacity, rate = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  redis.call('HSET', key, 'tokens', string.format('%.6f', filled[i] - spent),
             'at', string.format('%.6f', now))
  redis.call('PEXPIRE', key, math.ceil(capacity / rate * 1000) + 1000)
end
return string.format('%.6f', wait)
"""

# KEYS: slots. ARGV: cap, slot id, lease seconds. Returns 1 when the slot was taken.
_OCCUPY = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3]) * 1000))
return 1
"""

logger = logging.getLogger("tessera.governance")

#: Seconds a slot outlives its call's timeout before another process may reuse it.
LEASE_MARGIN = 10.0
# A call with no timeout still must not hold a dead process's slot for ever.
_LEASE_WITHOUT_TIMEOUT = 3600.0


class ClusterGovernor(Governor):
    """The :class:`Governor` whose counts every process of the cluster shares."""

    def __init__(
        self, settings: Settings, cluster: Cluster, *, lease_margin: float = LEASE_MARGIN
    ) -> None:
        super().__init__(settings)
        self._cluster = cluster
        self._lease_margin = lease_margin
        self._take = cluster.redis.register_script(_TAKE)
        self._occupy_slot = cluster.redis.register_script(_OCCUPY)
        # The slots this process holds, per plugin (any of a plugin's slots can be given
        # back for any of its calls: they count the same calls in the same set); None for
        # one counted in this process during an outage.
        self._slots: dict[str, list[str | None]] = {}
        self._counting_alone: float | None = None  # the outage we logged about

    def _alone(self, exc: BaseException | None = None) -> None:
        """Count in this process: say so once per outage."""
        outage = self._cluster.outage
        if exc is not None:
            outage.lost(exc)
        if outage.since is not None and outage.since != self._counting_alone:
            self._counting_alone = outage.since
            logger.warning(
                "rate limits, login throttles and concurrency caps are counted by each "
                "process alone while Redis is unreachable"
            )

    async def take(self, scope: Scope, limits: Sequence[tuple[Key, Rate]]) -> float:
        if not self._cluster.outage.down:
            buckets = [self._cluster.key(scope, orjson.dumps(key).decode()) for key, _ in limits]
            args = [arg for _, rate in limits for arg in (rate.requests, rate.per_second)]
            try:
                wait = await self._take(keys=buckets, args=args)
            except UNREACHABLE as exc:
                self._alone(exc)
            else:
                return float(wait)
        self._alone()
        return await super().take(scope, limits)

    async def _occupy(self, plugin: str, limits: Limits) -> bool:
        if not self._cluster.outage.down:
            slot = f"{self._cluster.node}-{uuid.uuid4().hex}"
            lease = (limits.timeout or _LEASE_WITHOUT_TIMEOUT) + self._lease_margin
            try:
                taken = await self._occupy_slot(
                    keys=[self._slots_key(plugin)], args=[limits.max_concurrency, slot, lease]
                )
            except UNREACHABLE as exc:
                self._alone(exc)
            else:
                if taken:
                    self._slots.setdefault(plugin, []).append(slot)
                return bool(taken)
        self._alone()
        if not await super()._occupy(plugin, limits):
            return False
        self._slots.setdefault(plugin, []).append(None)
        return True

    async def release(self, plugin: str, limits: Limits) -> None:
        if limits.max_concurrency is None:
            return
        slot = self._slots[plugin].pop()
        if slot is None:
            await super().release(plugin, limits)
            return
        # Unreachable: the lease frees the slot once Redis is back.
        with contextlib.suppress(*UNREACHABLE):
            await self._cluster.redis.zrem(self._slots_key(plugin), slot)

    def _slots_key(self, plugin: str) -> str:
        return self._cluster.key("running", plugin)
