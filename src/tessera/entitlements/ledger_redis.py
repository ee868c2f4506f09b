"""Usage counters shared by every process of a cluster, in Redis.

One hash per counter: ``used``, and a field per hold (``amount expiry``). A Lua script
drops expired holds, sums the live ones and takes the new hold only if it fits, so
processes never race. A process that dies mid-call leaves a hold that expires with the
call's lease (its timeout plus a margin), not one that blocks the allowance for ever.
"""

from __future__ import annotations

import itertools

from tessera.cluster.link import UNREACHABLE, Cluster
from tessera.entitlements.counters import counter_id
from tessera.entitlements.errors import EntitlementsUnavailable
from tessera.entitlements.ledger import Hold, UsageKey

# KEYS: counter. ARGV: hold id, amount, allowance (-1: none), lease seconds, expiry at
# (unix seconds, 0: none). Returns 1 when the hold was taken, 0 when it does not fit.
_HOLD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local fields = redis.call('HGETALL', KEYS[1])
local used, held = 0, 0
for i = 1, #fields, 2 do
  local name, value = fields[i], fields[i + 1]
  if name == 'used' then
    used = tonumber(value)
  else
    local amount, expiry = string.match(value, '(%d+) ([%d.]+)')
    if tonumber(expiry) < now then
      redis.call('HDEL', KEYS[1], name)
    else
      held = held + tonumber(amount)
    end
  end
end
local amount, allowance = tonumber(ARGV[2]), tonumber(ARGV[3])
if allowance >= 0 and used + held + amount > allowance then return 0 end
local expiry = string.format('%.3f', now + tonumber(ARGV[4]))
redis.call('HSET', KEYS[1], 'h:' .. ARGV[1], ARGV[2] .. ' ' .. expiry)
if tonumber(ARGV[5]) > 0 then redis.call('EXPIREAT', KEYS[1], math.ceil(tonumber(ARGV[5]))) end
return 1
"""

# KEYS: counter. ARGV: hold id, amount. Charges the hold, even one whose lease ran out.
_COMMIT = """
redis.call('HDEL', KEYS[1], 'h:' .. ARGV[1])
return redis.call('HINCRBY', KEYS[1], 'used', ARGV[2])
"""

# KEYS: the counter's period marker. ARGV: its period now. Returns the period it leaves
# when this is the first to note the new one, nil otherwise.
_ROLL = """
local before = redis.call('GET', KEYS[1])
if before and before >= ARGV[1] then return nil end
redis.call('SET', KEYS[1], ARGV[1], 'EX', 34560000)
return before
"""

# A day past the period's end, the counter is no longer read.
KEEP_AFTER_PERIOD = 86400.0


class RedisLedger:
    """The :class:`~tessera.entitlements.ledger.Ledger` of a cluster."""

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster
        self._hold = cluster.redis.register_script(_HOLD)
        self._commit = cluster.redis.register_script(_COMMIT)
        self._roll = cluster.redis.register_script(_ROLL)
        # Hold ids: this process's node id and a count (os.urandom per call cost ~2 us).
        self._ids = itertools.count()
        # Holds of calls that succeeded while Redis was unreachable, charged with the next
        # commit of their counter: left alone, each would lapse with its lease, uncharged.
        self._unsaved: dict[UsageKey, list[Hold]] = {}

    def _key(self, key: UsageKey) -> str:
        return self._cluster.key("usage", key.id)

    def _unavailable(self, exc: BaseException) -> EntitlementsUnavailable:
        return EntitlementsUnavailable(str(self._cluster.unavailable(exc, "count usage")))

    async def hold(
        self, key: UsageKey, amount: int, allowance: float, lease: float, ends: float
    ) -> Hold | None:
        hold_id = f"{self._cluster.node}-{next(self._ids)}"
        limit = -1 if allowance == float("inf") else int(allowance)
        expires = ends + KEEP_AFTER_PERIOD if ends else 0
        try:
            taken = await self._hold(
                keys=[self._key(key)], args=[hold_id, amount, limit, lease, expires]
            )
        except UNREACHABLE as exc:
            raise self._unavailable(exc) from None
        return Hold(key, amount, hold_id) if taken else None

    async def commit(self, hold: Hold) -> None:
        pending = [*self._unsaved.pop(hold.key, ()), hold]
        for index, each in enumerate(pending):
            try:
                await self._commit(keys=[self._key(each.key)], args=[each.id, each.amount])
            except UNREACHABLE as exc:
                self._unsaved[hold.key] = pending[index:]
                raise self._unavailable(exc) from None

    async def release(self, hold: Hold) -> None:
        try:
            await self._cluster.redis.hdel(self._key(hold.key), "h:" + hold.id)
        except UNREACHABLE as exc:
            raise self._unavailable(exc) from None

    async def used(self, keys: list[UsageKey]) -> list[int]:
        try:
            async with self._cluster.redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.hget(self._key(key), "used")
                values = await pipe.execute()
        except UNREACHABLE as exc:
            raise self._unavailable(exc) from None
        return [int(v) if v is not None else 0 for v in values]

    async def roll(self, key: UsageKey) -> str | None:
        marker = self._cluster.key("usage-period", counter_id(key))
        try:
            before = await self._roll(keys=[marker], args=[key.period])
        except UNREACHABLE as exc:
            raise self._unavailable(exc) from None
        if before is None:
            return None
        return before.decode() if isinstance(before, bytes) else str(before)
