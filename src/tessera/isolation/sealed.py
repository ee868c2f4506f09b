"""Sealed state: what a plugin-facing object keeps between calls, out of reach of attributes.

A scoped collection, database or cursor needs its store handle and its caller's policy at
each operation. Kept in plain slots, both would be one attribute away from plugin code
(``cursor._ScopedCursor__inner.collection``, ``obj.__getstate__()``, the class's slot
descriptors). Sealed, a slot holds a closure that gives its value back only to
:func:`unseal`, which no plugin-facing object exposes: the state can be neither read nor
forged by walking attributes or calling methods. Reading a closure's cells or a function's
globals is introspection, as is importing this module; in-process isolation does not
claim to stop that (docs/isolation.md), the sandbox mode does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

__all__ = ["Sealed", "seal", "unseal"]

Sealed = Callable[[object], T]

_KEY = object()


def seal(value: T) -> Sealed[T]:
    """A closure holding ``value`` for :func:`unseal`."""

    def sealed(key: object) -> T:
        if key is not _KEY:
            raise PermissionError("sealed state belongs to tessera.isolation")
        return value

    return sealed


def unseal(sealed: Sealed[T]) -> T:
    """The value :func:`seal` closed over."""
    return sealed(_KEY)
