"""Errors of tenant isolation.

    pymongo.errors.OperationFailure
    └── IsolationError: an operation was refused because it could reach other users' data

``IsolationError`` is an ``OperationFailure`` with MongoDB's "Unauthorized" code, so plugin
code that already handles PyMongo errors handles it too.
"""

from __future__ import annotations

from pymongo.errors import OperationFailure

UNAUTHORIZED = 13
DOCS = "docs/isolation.md"


class IsolationError(OperationFailure):
    """Raised in ``enforce`` mode when a plugin's database operation is not scoped to its
    caller; the message names the collection, the operation and the fix."""

    def __init__(self, message: str) -> None:
        super().__init__(f"{message} (isolation is enforced; see {DOCS})", UNAUTHORIZED)
