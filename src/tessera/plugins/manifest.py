"""A plugin's optional ``manifest.json``: what it is called and how it may run.

Without a manifest a plugin still works with the defaults below. Keys this version does
not know are kept in ``extra`` so newer manifests load on older runtimes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tessera.plugins.actions import Action, parse_actions
from tessera.plugins.errors import ManifestError

MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True)
class Manifest:
    """Metadata and limits declared by a plugin."""

    name: str
    display_name: str
    description: str = ""
    version: str = "0.0.0"
    enabled: bool = True
    timeout: float | None = None
    roles: tuple[str, ...] = ()
    rate_limit: str | None = None
    max_concurrency: int | None = None
    max_request_bytes: int | None = None
    max_response_bytes: int | None = None
    # Whether each call receives the caller's bearer token as data["user_jwt"]
    # (docs/plugins.md#the-callers-token): off unless the plugin asks.
    needs_user_jwt: bool = False
    # Whether the plugin's code runs in sandbox workers (docs/isolation.md#sandbox-mode),
    # whatever the server's isolation mode.
    sandbox: bool = False
    actions: dict[str, Action] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        """The fields shown to any signed-in user by ``GET /api/plugins``."""
        return {
            "name": self.name,
            "display_name": self.display_name,
            "description": self.description,
            "version": self.version,
        }


_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "display_name": (str,),
    "description": (str,),
    "version": (str,),
    "enabled": (bool,),
    "timeout": (int, float),
    "roles": (list,),
    "rate_limit": (str,),
    "max_concurrency": (int,),
    "max_request_bytes": (int,),
    "max_response_bytes": (int,),
    "needs_user_jwt": (bool,),
    "sandbox": (bool,),
    "actions": (dict,),
}
_POSITIVE = ("timeout", "max_concurrency", "max_request_bytes", "max_response_bytes")


def _has_type(value: Any, types: tuple[type, ...]) -> bool:
    # bool is an int subclass: `"timeout": true` must not pass as a number.
    if isinstance(value, bool):
        return bool in types
    return isinstance(value, types)


def default_manifest(name: str) -> Manifest:
    """The manifest of a plugin that ships none."""
    return Manifest(name=name, display_name=name.replace("_", " ").replace("-", " ").title())


def read_manifest(folder: Path, name: str) -> Manifest:
    """Read ``folder/manifest.json``, or return the defaults when there is none."""
    path = folder / MANIFEST_FILE
    if not path.is_file():
        return default_manifest(name)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ManifestError(f"{path.name} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ManifestError(f"{path.name} must hold a JSON object")
    return parse_manifest(raw, name)


def parse_manifest(raw: dict[str, Any], name: str) -> Manifest:
    """Validate the known keys of a manifest object and keep the others in ``extra``."""
    for key, types in _TYPES.items():
        value = raw.get(key)
        if value is not None and not _has_type(value, types):
            wanted = " or ".join(t.__name__ for t in types)
            raise ManifestError(f"manifest key {key!r} must be {wanted}, got {value!r}")
    for key in _POSITIVE:
        if raw.get(key) is not None and raw[key] <= 0:
            raise ManifestError(f"manifest key {key!r} must be positive, got {raw[key]!r}")
    roles = raw.get("roles") or []
    if not all(isinstance(role, str) for role in roles):
        raise ManifestError(f"manifest key 'roles' must be a list of strings, got {roles!r}")
    if raw.get("rate_limit") is not None:
        from tessera.governance.rates import parse_rate  # here: governance imports manifests

        try:
            parse_rate(raw["rate_limit"])
        except ValueError as exc:
            raise ManifestError(f"manifest key 'rate_limit': {exc}") from None
    timeout = raw.get("timeout")
    defaults = default_manifest(name)
    return Manifest(
        name=name,
        display_name=raw.get("display_name") or raw.get("name") or defaults.display_name,
        description=raw.get("description", ""),
        version=raw.get("version", defaults.version),
        enabled=raw.get("enabled", True),
        timeout=float(timeout) if timeout is not None else None,
        roles=tuple(roles),
        rate_limit=raw.get("rate_limit"),
        max_concurrency=raw.get("max_concurrency"),
        max_request_bytes=raw.get("max_request_bytes"),
        max_response_bytes=raw.get("max_response_bytes"),
        needs_user_jwt=raw.get("needs_user_jwt") is True,
        sandbox=raw.get("sandbox") is True,
        actions=parse_actions(raw.get("actions")),
        extra={k: v for k, v in raw.items() if k not in _TYPES},
    )
