"""Tenant isolation: during a plugin call, ``db`` reaches only the caller's documents.

See docs/isolation.md for what plugin authors see.
"""

from tessera.isolation.collection import ScopedCollection
from tessera.isolation.cursor import ScopedCursor
from tessera.isolation.database import ScopedDatabase
from tessera.isolation.errors import IsolationError
from tessera.isolation.indexes import UserIndexes
from tessera.isolation.policy import Policy
from tessera.isolation.scope import pins_user

__all__ = [
    "IsolationError",
    "Policy",
    "ScopedCollection",
    "ScopedCursor",
    "ScopedDatabase",
    "UserIndexes",
    "pins_user",
]
