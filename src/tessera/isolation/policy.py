"""The isolation policy of one plugin call: who calls, which collections are shared, and
what happens to an operation that is not scoped (refused, or logged in ``audit`` mode)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tessera.bounded_text import cut
from tessera.isolation.errors import IsolationError

logger = logging.getLogger("tessera.isolation")
#: The most characters of a plugin's values (a refused user id, a reason) a log line of
#: the isolation holds: a sandboxed plugin sent user ids of megabytes to be refused, and
#: each made a log line as large, past the budget its own log lines have.
LOGGED_CHARS = 1000

MODES = ("enforce", "audit", "off")


@dataclass(frozen=True, slots=True)
class Policy:
    """How one plugin call may use its app's database."""

    mode: str
    user_id: str
    plugin: str
    shared: frozenset[str] = frozenset()
    # Set when the call escalated: the reason it gave, logged with every operation.
    escalation: str | None = None
    #: A sandboxed plugin the operator did not list in --sandbox-escalation: it shares no
    #: collection with other plugins (another plugin's may hold every user's documents).
    confined: bool = False

    def scoped(self, collection: str) -> bool:
        """True when operations on ``collection`` must stay inside the caller's documents."""
        return self.per_user and collection not in self.shared

    @property
    def per_user(self) -> bool:
        """False when the call escalated or isolation is off: nothing is scoped to a user."""
        return self.escalation is None and self.mode != "off"

    def violation(self, operation: str, problem: str) -> None:
        """Refuse the operation (``enforce``) or log it and let it through (``audit``)."""
        message = f"{operation}: {problem}"
        if self.mode == "enforce":
            logger.warning(
                "isolation refused (plugin=%s user=%s) %s", *self._who(), logged(message)
            )
            raise IsolationError(message)
        logger.warning("isolation audit (plugin=%s user=%s) %s", *self._who(), logged(message))

    def refuse(self, operation: str, problem: str) -> None:
        """Refuse an operation that would leave the app's database, whatever the mode."""
        message = f"{operation}: {problem}"
        logger.warning("isolation refused (plugin=%s user=%s) %s", *self._who(), logged(message))
        raise IsolationError(message)

    def escalated(self, operation: str) -> None:
        """Log one operation done under escalation: who, which plugin, what and why."""
        if self.escalation is not None:
            logger.info(
                "isolation escalation (plugin=%s user=%s reason=%s) %s",
                *self._who(),
                logged(repr(self.escalation)),
                logged(operation),
            )

    def _who(self) -> tuple[str, str]:
        return self.plugin, self.user_id


def unlisted(plugin: str, refused: str) -> str:
    """Why sandboxed ``plugin`` may not do ``refused``: its manifest is its author's, so
    what reaches past its caller needs the operator's list (docs/isolation.md)."""
    return (
        f"plugin {plugin!r} runs in the sandbox, where {refused} needs the operator to "
        "list it in --sandbox-escalation (TESSERA_SANDBOX_ESCALATION)"
    )


def logged(text: str) -> str:
    """``text`` as an isolation log line holds it: at most LOGGED_CHARS characters."""
    return cut(text, LOGGED_CHARS)


def manifest_names(extra: Mapping[str, Any], key: str) -> frozenset[str]:
    """A manifest list of names (``shared_collections``, ``escalation_roles``); a malformed
    one is ignored with a warning rather than widening what the plugin may do."""
    value = extra.get(key, ())
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        logger.warning("manifest key %r must be a list of strings, got %r; ignored", key, value)
        return frozenset()
    return frozenset(value)


def may_escalate(roles: Iterable[str], is_superadmin: bool, allowed: frozenset[str]) -> bool:
    """Escalation is for superadmins and for roles the plugin's manifest names."""
    return is_superadmin or not allowed.isdisjoint(roles)
