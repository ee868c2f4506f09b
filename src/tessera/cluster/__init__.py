"""Scale-out: what several Tessera processes share through Redis.

With ``TESSERA_REDIS_URL`` set, the WebSocket fan-out and resume window
(``services/fanout/redis.py``), the event bus (``services/events/redis.py``), rate limits
and concurrency caps (``governance/cluster.py``) and plugin switches
(``plugins/switches.py``) keep their shared state in one Redis, reached through
``cluster.link``. Only ``link`` needs the ``redis`` package (the ``tessera[redis]`` extra).
"""

from tessera.cluster.errors import ClusterUnavailable

__all__ = ["ClusterUnavailable"]
