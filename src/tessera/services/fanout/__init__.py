"""Message fan-out: how a numbered message reaches every connection of its user."""

from tessera.services.fanout.base import Deliver, Fanout, UserMessage
from tessera.services.fanout.local import LocalFanout

__all__ = ["Deliver", "Fanout", "LocalFanout", "UserMessage"]
