"""User profiles: the few fields users edit about themselves (name, bio, picture, theme).

The reference runtime let ``POST /api/update-profile`` set any field of the user document,
roles and password hash included. Here a profile is a document of its own in the system
database, one per app and user, and holds only the fields of :data:`EDITABLE`; identity
(user id, username, email, roles, superadmin) stays with the account or the token and is
never written through a profile. A change naming any other field is refused as a whole.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING

from tessera.services.event_bus import EventBus

PROFILE_UPDATED = "profile_updated"


@dataclass(frozen=True)
class ProfileField:
    """One field a user may set on their own profile: a string up to ``max_length``."""

    name: str
    label: str
    kind: str  # the reference's settings_config field type, which the front end renders
    max_length: int


#: The fields a user may change, in the order front ends show them.
EDITABLE: tuple[ProfileField, ...] = (
    ProfileField("full_name", "Full Name", "text", 200),
    ProfileField("bio", "Bio", "textarea", 2000),
    ProfileField("profile_picture", "Profile Picture", "image", 2048),
    ProfileField("theme", "Theme", "theme-selector", 64),
)
EDITABLE_NAMES = tuple(f.name for f in EDITABLE)
# A picture a front end may put in <img src>: not javascript: or any other scheme.
PICTURE_SCHEMES = ("https://", "http://", "data:image/")
_BY_NAME = {f.name: f for f in EDITABLE}


class ProfileError(ValueError):
    """A profile change was refused; ``field`` names the offending key (empty for the body)
    and ``code`` says why: ``not_editable`` or ``invalid``."""

    def __init__(self, message: str, *, field: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code


def check_changes(changes: Mapping[str, Any]) -> dict[str, str | None]:
    """The changes as stored (``None`` clears a field); ProfileError for a key that is not
    in :data:`EDITABLE` or a value that is not a string within its length."""
    if not changes:
        raise ProfileError(
            f"No fields to update; send one or more of: {', '.join(EDITABLE_NAMES)}.",
            field="",
            code="invalid",
        )
    refused = sorted(str(key) for key in changes if key not in _BY_NAME)
    if refused:
        raise ProfileError(
            f"{', '.join(repr(k) for k in refused)} cannot be changed through the profile; "
            f"a user may change only: {', '.join(EDITABLE_NAMES)}.",
            field=refused[0],
            code="not_editable",
        )
    checked: dict[str, str | None] = {}
    for key, value in changes.items():
        spec = _BY_NAME[key]
        if value is not None and not isinstance(value, str):
            raise ProfileError(
                f"{key!r} must be a string or null, not {type(value).__name__}.",
                field=key,
                code="invalid",
            )
        if value is not None and len(value) > spec.max_length:
            raise ProfileError(
                f"{key!r} must be at most {spec.max_length} characters, not {len(value)}.",
                field=key,
                code="invalid",
            )
        if key == "profile_picture" and value and not value.lower().startswith(PICTURE_SCHEMES):
            raise ProfileError(
                "'profile_picture' must be an https:// or http:// URL, or a data:image/ URI.",
                field=key,
                code="invalid",
            )
        checked[key] = value
    return checked


class ProfileService:
    """Reads and changes the editable profile fields of one user of one app."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self._collection: Any = None

    async def start(self, database: Any) -> None:
        """Use ``database`` (the system database), one profile per app and user."""
        self._collection = database["profiles"]
        await self._collection.create_index(
            [("app_id", ASCENDING), ("user_id", ASCENDING)], unique=True
        )

    def stop(self) -> None:
        self._collection = None

    def _running(self) -> Any:
        if self._collection is None:
            raise RuntimeError("profiles were used outside a running Tessera runtime")
        return self._collection

    async def get(self, app_id: str, user_id: str) -> dict[str, Any]:
        """Every editable field (``None`` when unset) and ``updated_at``."""
        saved = await self._running().find_one({"app_id": app_id, "user_id": user_id}) or {}
        profile: dict[str, Any] = {name: saved.get(name) for name in EDITABLE_NAMES}
        profile["updated_at"] = saved.get("updated_at")
        return profile

    async def update(self, app_id: str, user_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Check and store ``changes`` (see :func:`check_changes`); return the profile and
        announce ``profile_updated`` as the reference did."""
        checked = check_changes(changes)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        await self._running().update_one(
            {"app_id": app_id, "user_id": user_id},
            {"$set": {**checked, "updated_at": now}},
            upsert=True,
        )
        report = {"app_id": app_id, "user_id": user_id, "fields": sorted(checked)}
        self._bus.publish(PROFILE_UPDATED, report, as_caller=False)
        return await self.get(app_id, user_id)
