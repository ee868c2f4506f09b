"""The services of the running runtime.

Each runtime makes its own services (:class:`tessera.services.wiring.Services`) and binds
them here while it runs. The plugin-facing facades (``core.event_bus``,
``core.websocket_manager``, ...) are imported before any runtime exists and hold nothing:
they find the bound services at each use, as ``db`` finds the bound databases, so no state
outlives the runtime that made it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tessera.context import NotBound

if TYPE_CHECKING:
    from tessera.services.wiring import Services

_bound: Services | None = None


def bind(services: Services) -> None:
    """Make ``services`` the ones the facades use; called by the runtime at start."""
    global _bound
    _bound = services


def unbind(services: Services) -> None:
    """Forget ``services`` if they are still the bound ones (a runtime stopping late must
    not unbind a newer one)."""
    global _bound
    if services is _bound:
        _bound = None


def current() -> Services:
    """The services of the running runtime."""
    if _bound is None:
        raise NotBound(
            "Tessera's services were used outside a running runtime; run the plugin with "
            "`tessera serve` or tessera.testing"
        )
    return _bound
