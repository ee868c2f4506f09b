"""The processes' WebSocket presence in Redis.

Each app has a set of the processes holding its users' sockets, and each of those
processes a set of the users it holds; both expire :data:`~.base.LEASE` seconds after the
process's last renewal, which rewrites its sets in full (Redis may have restarted empty).
A process whose set has expired is dropped from the app's set by the next read.

While Redis is unreachable nothing is written or read: a broadcast reaches this process's
own users, and the record is rewritten once Redis is back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from typing import Any

import orjson

from tessera.cluster.link import UNREACHABLE, Cluster
from tessera.services.presence.base import LEASE, Pair

# KEYS: the app's set of processes. Returns the users in the sets of those processes
# (each named by the app's key, ':' and the process), dropping the processes whose set
# has expired.
_USERS = """
local users, seen = {}, {}
for _, node in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local held = redis.call('SMEMBERS', KEYS[1] .. ':' .. node)
  if #held == 0 then redis.call('SREM', KEYS[1], node) end
  for _, user in ipairs(held) do
    if not seen[user] then
      seen[user] = true
      users[#users + 1] = user
    end
  end
end
return users
"""


class RedisPresenceStore:
    """One process's record of the pairs it holds, and the reading of everyone's."""

    def __init__(self, cluster: Cluster, *, lease: float = LEASE) -> None:
        self._cluster = cluster
        self._lease = max(1, round(lease))
        self._users = cluster.redis.register_script(_USERS)
        # The apps this process wrote a set for: a renewal deletes those it no longer has.
        self._apps: set[str] = set()

    def _app_key(self, app_id: str) -> str:
        # JSON keeps any app id unambiguous inside the key.
        return self._cluster.key("ws", "present", orjson.dumps(app_id).decode())

    def _held_key(self, app_id: str) -> str:
        return f"{self._app_key(app_id)}:{self._cluster.node}"

    async def write(self, changes: Mapping[Pair, bool]) -> None:
        if self._cluster.outage.down:
            return  # rewritten in full when Redis is back
        async with self._cluster.redis.pipeline(transaction=False) as pipe:
            for (app_id, user_id), present in changes.items():
                held = self._held_key(app_id)
                if present:
                    self._hold(pipe, app_id, held, [user_id])
                else:
                    pipe.srem(held, user_id)
            await self._execute(pipe)

    async def renew(self, held: Collection[Pair]) -> None:
        if self._cluster.outage.down:
            return
        users: dict[str, list[str]] = defaultdict(list)
        for app_id, user_id in held:
            users[app_id].append(user_id)
        async with self._cluster.redis.pipeline(transaction=True) as pipe:
            for app_id in self._apps - users.keys():
                pipe.delete(self._held_key(app_id))
            for app_id, ids in users.items():
                key = self._held_key(app_id)
                pipe.delete(key)
                self._hold(pipe, app_id, key, ids)
            await self._execute(pipe)
        self._apps = set(users)

    async def users(self, app_id: str) -> set[str]:
        if self._cluster.outage.down:
            return set()
        try:
            found = await self._users(keys=[self._app_key(app_id)])
        except UNREACHABLE as exc:
            self._cluster.outage.lost(exc)
            return set()
        return {user.decode() for user in found}

    async def clear(self) -> None:
        if self._cluster.outage.down:
            return
        async with self._cluster.redis.pipeline(transaction=False) as pipe:
            for app_id in self._apps:
                pipe.delete(self._held_key(app_id))
                pipe.srem(self._app_key(app_id), self._cluster.node)
            await self._execute(pipe)
        self._apps = set()

    def _hold(self, pipe: Any, app_id: str, key: str, users: list[str]) -> None:
        app_key = self._app_key(app_id)
        pipe.sadd(key, *users)
        pipe.expire(key, self._lease)
        pipe.sadd(app_key, self._cluster.node)
        pipe.expire(app_key, self._lease)
        self._apps.add(app_id)

    async def _execute(self, pipe: Any) -> None:
        try:
            await pipe.execute()
        except UNREACHABLE as exc:
            self._cluster.outage.lost(exc)
