"""Start-up time and idle memory of Tessera serving many plugins, against a bare baseline.

Run ``.venv/bin/python bench/startup.py`` (``--plugins 200 --runs 5``). The targets: with
200 plugins, ``tessera serve`` answers ``GET /health`` within 2 s of being spawned, and an
idle server holds at most 100 MB of resident memory.

It generates ``--plugins`` realistic plugins into a temporary folder, 50 to 150 lines
each: CRUD plugins with typed actions, event-driven feeds, plugins with per-user settings
and notifications, packages with helper modules imported relatively, ``backend/logic.py``
layouts (these all import ``core.*`` services) and a few that only compute. Then, for
each of ``--runs`` rounds, it spawns and times:

- ``python -c "import starlette, uvicorn"``: the interpreter and the web stack, to exit;
- ``python -c "<tessera serve's imports>"``: the same with Tessera's own modules;
- a bare ASGI app under uvicorn (``bench/apps/bare.py``), until it answers;
- ``tessera serve`` with 0 and with all plugins, each on a fresh data folder (no store, no
  plugin bytecode) and then warm (the store exists, plugin bytecode is cached);
- ``tessera serve`` with all plugins, a fresh data folder and PYTHONDONTWRITEBYTECODE=1,
  as in many container images: Tessera (installed editable here) and every plugin are
  compiled at each start.

Bytecode goes to a PYTHONPYCACHEPREFIX in the scratch folder, primed by one unmeasured
round, so nothing is written into the checkout and "fresh" and "warm" mean what they say
whatever the calling shell sets.

A start counts from the spawn until ``GET /health`` answers 200 and reports every plugin
loaded and none failed; the CPU time the server used until then is read too (steadier
than the wall time on a shared machine), and after ``--idle`` seconds its VmRSS. Once,
every generated plugin is also called over HTTP with a real token, so a fast start of
plugins that do not work cannot pass. Servers are not pinned to a CPU; other
work on the machine shows in the figures, so read the max next to the median.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, where bench/http.py would
# hide the standard library's `http` package (httpx needs it); the repository root goes
# there instead, for `bench.loadgen` and `tessera`.
sys.path.pop(0)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from bench.loadgen import free_port

from tessera.runtime import local_tokens
from tessera.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
START_TARGET = 2.0  # seconds, with 200 plugins
MEMORY_TARGET = 100.0  # MB of idle resident memory, with 200 plugins
#: What ``tessera serve`` imports before it starts the runtime (see tessera/cli.py).
SERVE_IMPORTS = (
    "import uvicorn, tessera.cli; from tessera.http.app import create_app; "
    "from tessera.runtime import Runtime"
)
#: Whether a server's answer means it is ready.
Ready = Callable[[httpx.Response], bool]

# --------------------------------------------------------------------------------------
# Generating plugins
# --------------------------------------------------------------------------------------

NOUNS = (
    "invoice", "ticket", "contact", "task", "bookmark", "expense", "recipe", "habit",
    "workout", "meeting", "project", "lead", "deal", "campaign", "survey", "feedback",
    "order", "shipment", "booking", "course", "lesson", "quiz", "journal", "goal",
    "budget", "coupon", "review", "asset", "vendor", "timesheet", "shift", "incident",
    "release", "document", "playlist", "trip", "donation", "member", "listing", "claim",
)  # fmt: skip
ROLES = (
    "tracker", "board", "manager", "planner", "log", "desk", "hub", "studio", "center",
    "keeper", "vault", "radar",
)  # fmt: skip
#: Optional fields of a generated entity: name -> JSON Schema, and a sample value.
FIELD_POOL: dict[str, tuple[dict[str, object], object]] = {
    "amount": ({"type": "number", "minimum": 0}, 12.5),
    "due_date": ({"type": "string", "format": "date"}, "2026-03-01"),
    "priority": ({"type": "string", "enum": ["low", "normal", "high"]}, "high"),
    "quantity": ({"type": "integer", "minimum": 1}, 3),
    "notes": ({"type": "string", "maxLength": 2000}, "from the benchmark"),
    "email": ({"type": "string", "pattern": "^[^@]+@[^@]+$"}, "a@example.com"),
    "tags": ({"type": "array", "items": {"type": "string"}, "maxItems": 20}, ["x", "y"]),
    "rating": ({"type": "integer", "minimum": 1, "maximum": 5}, 4),
    "url": ({"type": "string", "maxLength": 500}, "https://example.com"),
    "category": ({"type": "string", "minLength": 1}, "general"),
    "location": ({"type": "string"}, "Lyon"),
    "minutes": ({"type": "integer", "minimum": 0}, 45),
}
STATUS_SETS = (
    ("open", "in_progress", "done"),
    ("draft", "sent", "paid", "void"),
    ("new", "active", "archived"),
    ("pending", "approved", "rejected"),
)
#: Which kind each plugin is, cycling: the share of each kind in a real plugin folder.
KIND_CYCLE = (
    "crud", "events", "settings", "package", "crud", "events", "settings", "crud",
    "package", "crud", "events", "settings", "package", "crud", "backend", "crud",
    "events", "settings", "package", "compute",
)  # fmt: skip

CRUD_LOGIC = '''"""<<title>>: each user's <<noun>>s, with filters, status changes and a summary.

Documents live in ``<<collection>>``, one per <<noun>>, always scoped by ``user_id``.
Every change is published as ``<<prefix>>:<change>`` for other plugins to follow.
"""

import logging
from datetime import UTC, datetime

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ReturnDocument

from core.config.database import db
from core.event_bus import event_bus

logger = logging.getLogger("mozaiks_plugins.<<plugin>>")

COLLECTION = "<<collection>>"
FIELDS = <<fields>>
REQUIRED = <<required>>
STATUSES = <<statuses>>
PAGE_SIZE = <<page_size>>


def _public(document: dict) -> dict:
    document["_id"] = str(document["_id"])
    return document


def _object_id(value: object) -> ObjectId | None:
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        return None


def _fields(data: dict) -> dict:
    return {key: data[key] for key in FIELDS if key in data}


def _invalid(message: str) -> dict:
    return {"error": message, "error_code": "validation_error"}


def _not_found() -> dict:
    return {"error": "<<noun>> not found", "error_code": "not_found"}


async def execute(data: dict) -> dict:
    user_id = data["user_id"]
    action = data.get("action", "list")
    handlers = {
        "list": _list,
        "create": _create,
        "get": _get,
        "update": _update,
        "set_status": _set_status,
        "delete": _delete,
        "summary": _summary,
    }
    handler = handlers.get(action)
    if handler is None:
        return _invalid(f"Unknown action: {action}")
    return await handler(user_id, data)


async def _list(user_id: str, data: dict) -> dict:
    query: dict = {"user_id": user_id}
    if data.get("status") in STATUSES:
        query["status"] = data["status"]
    page = max(int(data.get("page", 0)), 0)
    cursor = db[COLLECTION].find(query).sort("created_at", -1).skip(page * PAGE_SIZE)
    items = await cursor.to_list(PAGE_SIZE)
    return {"items": [_public(item) for item in items], "page": page, "count": len(items)}


async def _create(user_id: str, data: dict) -> dict:
    missing = [key for key in REQUIRED if data.get(key) in (None, "")]
    if missing:
        return _invalid(f"missing: {', '.join(missing)}")
    now = datetime.now(UTC)
    document = {**_fields(data), "user_id": user_id, "status": STATUSES[0]}
    document.update(created_at=now, updated_at=now)
    result = await db[COLLECTION].insert_one(document)
    item_id = str(result.inserted_id)
    event_bus.publish("<<prefix>>:created", {"user_id": user_id, "id": item_id})
    logger.info("<<noun>> %s created", item_id)
    return {"success": True, "id": item_id}


async def _get(user_id: str, data: dict) -> dict:
    oid = _object_id(data.get("id"))
    item = await db[COLLECTION].find_one({"_id": oid, "user_id": user_id}) if oid else None
    return {"item": _public(item)} if item else _not_found()


async def _update(user_id: str, data: dict) -> dict:
    oid = _object_id(data.get("id"))
    changes = _fields(data)
    if oid is None:
        return _invalid("id required")
    if not changes:
        return _invalid(f"nothing to update: send one of {', '.join(FIELDS)}")
    changes["updated_at"] = datetime.now(UTC)
    item = await db[COLLECTION].find_one_and_update(
        {"_id": oid, "user_id": user_id},
        {"$set": changes},
        return_document=ReturnDocument.AFTER,
    )
    if item is None:
        return _not_found()
    event_bus.publish("<<prefix>>:updated", {"user_id": user_id, "id": str(oid)})
    return {"success": True, "item": _public(item)}


async def _set_status(user_id: str, data: dict) -> dict:
    status = data.get("status")
    if status not in STATUSES:
        return _invalid(f"status must be one of {', '.join(STATUSES)}")
    oid = _object_id(data.get("id"))
    change = {"$set": {"status": status, "updated_at": datetime.now(UTC)}}
    result = await db[COLLECTION].update_one({"_id": oid, "user_id": user_id}, change)
    if not result.matched_count:
        return _not_found()
    event_bus.publish("<<prefix>>:status", {"user_id": user_id, "id": str(oid), "to": status})
    return {"success": True, "status": status}


async def _delete(user_id: str, data: dict) -> dict:
    oid = _object_id(data.get("id"))
    result = await db[COLLECTION].delete_one({"_id": oid, "user_id": user_id}) if oid else None
    if result is None or not result.deleted_count:
        return _not_found()
    event_bus.publish("<<prefix>>:deleted", {"user_id": user_id, "id": str(oid)})
    return {"success": True}


async def _summary(user_id: str, data: dict) -> dict:
    pipeline = [
        {"$match": {"user_id": user_id}},
        {"$group": {"_id": "$status", "count": {"$sum": 1}}},
        {"$sort": {"_id": 1}},
    ]
    rows = await (await db[COLLECTION].aggregate(pipeline)).to_list(len(STATUSES))
    counts = {status: 0 for status in STATUSES}
    counts.update({row["_id"]: row["count"] for row in rows})
    return {"by_status": counts, "total": sum(counts.values())}
'''

EVENTS_LOGIC = '''"""<<title>>: a live feed of <<noun>> activity, from the events of <<watched>>.

The feed lives in ``<<collection>>``; each new entry is also pushed to the user's open tabs.
"""

import logging
from collections import Counter
from datetime import UTC, datetime, timedelta

from core.config.database import db
from core.event_bus import event_bus, on_event
from core.websocket_manager import websocket_manager

logger = logging.getLogger("mozaiks_plugins.<<plugin>>")

FEED = "<<collection>>"
WATCHED = "<<watched>>:*"
KEEP_DAYS = <<keep_days>>
FEED_SIZE = <<page_size>>
_seen: Counter = Counter()


@on_event(WATCHED)
async def _record(payload: dict) -> None:
    """Runs after the publishing call, as the user who made the change."""
    user_id = payload.get("user_id")
    if not user_id:
        return
    entry = {
        "user_id": user_id,
        "source": "<<watched>>",
        "ref": payload.get("id"),
        "at": datetime.now(UTC),
    }
    await db[FEED].insert_one(entry)
    await websocket_manager.send_to_user(
        user_id, {"type": "<<prefix>>_activity", "ref": entry["ref"]}
    )


def _count(payload: dict) -> None:
    """A plain handler: it runs in a worker thread, so it only touches this process."""
    _seen[payload.get("<<count_key>>", "?")] += 1


event_bus.subscribe("<<subscribed>>", _count)


async def execute(data: dict) -> dict:
    user_id = data["user_id"]
    action = data.get("action", "feed")
    if action == "feed":
        return await _feed(user_id, data)
    if action == "post":
        return await _post(user_id, data)
    if action == "stats":
        return {"seen": dict(_seen.most_common(10)), "watching": WATCHED}
    if action == "prune":
        return await _prune(user_id)
    return {"error": f"Unknown action: {action}", "error_code": "validation_error"}


async def _feed(user_id: str, data: dict) -> dict:
    query: dict = {"user_id": user_id}
    if isinstance(data.get("source"), str):
        query["source"] = data["source"]
    entries = await db[FEED].find(query).sort("at", -1).to_list(FEED_SIZE)
    return {
        "entries": [
            {"source": e["source"], "ref": e.get("ref"), "at": e["at"]} for e in entries
        ]
    }


async def _post(user_id: str, data: dict) -> dict:
    text = str(data.get("text", "")).strip()
    if not text:
        return {"error": "text required", "error_code": "validation_error"}
    entry = {"user_id": user_id, "source": "note", "text": text[:500], "at": datetime.now(UTC)}
    result = await db[FEED].insert_one(entry)
    event_bus.publish("<<prefix>>:posted", {"user_id": user_id, "id": str(result.inserted_id)})
    await websocket_manager.send_to_user(user_id, {"type": "<<prefix>>_post", "text": text})
    return {"success": True, "id": str(result.inserted_id)}


async def _prune(user_id: str) -> dict:
    cutoff = datetime.now(UTC) - timedelta(days=KEEP_DAYS)
    result = await db[FEED].delete_many({"user_id": user_id, "at": {"$lt": cutoff}})
    logger.info("pruned %d entries", result.deleted_count)
    return {"success": True, "deleted": result.deleted_count}
'''

SETTINGS_LOGIC = '''"""<<title>>: reminders about <<noun>>s, delivered as each user prefers.

Each user's settings (``lead_minutes``, ``notify``, ``channel``, ``quiet_hours``) come
from the manifest's schema, with its defaults until the user saves others.
"""

import logging
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from bson.errors import InvalidId

from core.config.database import db
from core.notifications_manager import notifications_manager
from core.settings_manager import settings_manager

logger = logging.getLogger("mozaiks_plugins.<<plugin>>")

PLUGIN = "<<plugin>>"
REMINDERS = "<<collection>>"


async def execute(data: dict) -> dict:
    user_id = data["user_id"]
    action = data.get("action", "due")
    if action == "remind":
        return await _remind(user_id, data)
    if action == "due":
        return await _due(user_id)
    if action == "dismiss":
        return await _dismiss(user_id, data)
    if action == "settings":
        return {"settings": await settings_manager.get_plugin_settings(user_id, PLUGIN)}
    if action == "save_settings":
        return await _save_settings(user_id, data)
    return {"error": f"Unknown action: {action}", "error_code": "validation_error"}


def _quiet(now: datetime, quiet_hours: list) -> bool:
    start, end = (quiet_hours + [0, 0])[:2]
    if start == end:
        return False
    hour = now.hour
    return start <= hour < end if start < end else hour >= start or hour < end


async def _remind(user_id: str, data: dict) -> dict:
    subject = str(data.get("subject", "")).strip()
    if not subject:
        return {"error": "subject required", "error_code": "validation_error"}
    settings = await settings_manager.get_plugin_settings(user_id, PLUGIN)
    now = datetime.now(UTC)
    due = now + timedelta(minutes=settings["lead_minutes"])
    reminder = {"user_id": user_id, "subject": subject, "due": due, "done": False}
    result = await db[REMINDERS].insert_one(reminder)
    if settings["notify"] and not _quiet(now, settings["quiet_hours"]):
        await notifications_manager.create_notification(
            user_id=user_id,
            notification_type="<<prefix>>_reminder",
            title="<<noun_title>> reminder",
            message=subject,
            metadata={"reminder_id": str(result.inserted_id)},
            channels=[settings["channel"]],
        )
    return {"success": True, "id": str(result.inserted_id), "due": due}


async def _due(user_id: str) -> dict:
    query = {"user_id": user_id, "done": False, "due": {"$lte": datetime.now(UTC)}}
    items = await db[REMINDERS].find(query).sort("due", 1).to_list(<<page_size>>)
    return {"due": [{"id": str(i["_id"]), "subject": i["subject"]} for i in items]}


async def _dismiss(user_id: str, data: dict) -> dict:
    try:
        oid = ObjectId(data.get("id"))
    except (InvalidId, TypeError):
        return {"error": "id required", "error_code": "validation_error"}
    result = await db[REMINDERS].update_one(
        {"_id": oid, "user_id": user_id}, {"$set": {"done": True}}
    )
    if not result.matched_count:
        return {"error": "reminder not found", "error_code": "not_found"}
    return {"success": True}


async def _save_settings(user_id: str, data: dict) -> dict:
    values = data.get("settings")
    if not isinstance(values, dict):
        return {"error": "settings must be an object", "error_code": "validation_error"}
    result = await settings_manager.save_plugin_settings(user_id, PLUGIN, values)
    if not result["success"]:
        logger.info("rejected settings: %s", result["error"])
        return {"error": result["error"], "error_code": "validation_error"}
    return result
'''

PACKAGE_INIT = '''"""<<title>>: a plugin split into modules (logic, queries, helpers)."""
'''

PACKAGE_HELPERS = '''"""Parsing and formatting shared by the <<plugin>> modules; no I/O here."""

import re
import unicodedata
from decimal import Decimal, InvalidOperation

CURRENCY = "<<currency>>"
_SLUG = re.compile(r"[^a-z0-9]+")
_EMAIL = re.compile(r"^[^@\\s]+@[^@\\s]+\\.[a-z]{2,}$", re.IGNORECASE)


def slugify(text: str) -> str:
    """A lowercase ASCII slug: "Café Crème" -> "cafe-creme"."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _SLUG.sub("-", ascii_text.lower()).strip("-")


def parse_amount(value: object) -> Decimal | None:
    """A non-negative amount with two decimals, or None when it is not one."""
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return None
    return amount if amount >= 0 else None


def format_amount(amount: Decimal) -> str:
    return f"{amount:,.2f} {CURRENCY}"


def valid_email(text: str) -> bool:
    return bool(_EMAIL.match(text))


def clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))
'''

PACKAGE_QUERIES = '''"""The <<plugin>> queries: every one scoped by the caller's user_id."""

from core.config.database import db

ENTRIES = "<<collection>>"


async def recent(user_id: str, limit: int) -> list[dict]:
    cursor = db[ENTRIES].find({"user_id": user_id}).sort("created_at", -1)
    return await cursor.to_list(limit)


async def by_slug(user_id: str, slug: str) -> dict | None:
    return await db[ENTRIES].find_one({"user_id": user_id, "slug": slug})


async def totals(user_id: str) -> list[dict]:
    pipeline = [
        {"$match": {"user_id": user_id}},
        {"$group": {"_id": "$kind", "cents": {"$sum": "$cents"}, "count": {"$sum": 1}}},
    ]
    return await (await db[ENTRIES].aggregate(pipeline)).to_list(100)
'''

PACKAGE_LOGIC = '''"""<<title>>: named <<noun>> entries with amounts, totals per kind."""

from datetime import UTC, datetime

from core.config.database import db
from core.event_bus import event_bus

from .helpers import clamp, format_amount, parse_amount, slugify, valid_email
from .queries import ENTRIES, by_slug, recent, totals

KINDS = <<kinds>>


async def execute(data: dict) -> dict:
    user_id = data["user_id"]
    action = data.get("action", "recent")
    if action == "add":
        return await _add(user_id, data)
    if action == "recent":
        limit = clamp(int(data.get("limit", 20)), 1, 100)
        entries = await recent(user_id, limit)
        return {"entries": [_public(e) for e in entries]}
    if action == "find":
        entry = await by_slug(user_id, slugify(str(data.get("name", ""))))
        return {"entry": _public(entry)} if entry else {"error": "not found", "http_status": 404}
    if action == "totals":
        rows = await totals(user_id)
        return {"totals": {r["_id"]: format_amount(_amount(r["cents"])) for r in rows}}
    return {"error": f"Unknown action: {action}", "error_code": "validation_error"}


async def _add(user_id: str, data: dict) -> dict:
    name = str(data.get("name", "")).strip()
    amount = parse_amount(data.get("amount"))
    kind = data.get("kind", KINDS[0])
    if not name or amount is None:
        return {"error": "name and a non-negative amount required", "field": "amount"}
    if kind not in KINDS:
        return {"error": f"kind must be one of {', '.join(KINDS)}", "field": "kind"}
    contact = str(data.get("contact", ""))
    if contact and not valid_email(contact):
        return {"error": "contact must be an email address", "field": "contact"}
    entry = {
        "user_id": user_id,
        "name": name,
        "slug": slugify(name),
        "kind": kind,
        "cents": int(amount * 100),
        "contact": contact or None,
        "created_at": datetime.now(UTC),
    }
    result = await db[ENTRIES].insert_one(entry)
    event_bus.publish("<<prefix>>:added", {"user_id": user_id, "id": str(result.inserted_id)})
    return {"success": True, "id": str(result.inserted_id), "amount": format_amount(amount)}


def _amount(cents: int):
    return parse_amount(cents / 100)


def _public(entry: dict) -> dict:
    return {
        "id": str(entry["_id"]),
        "name": entry["name"],
        "kind": entry["kind"],
        "amount": format_amount(_amount(entry["cents"])),
    }
'''

BACKEND_RULES = '''"""Rules each <<noun>> must follow before it is accepted."""

RULES = {
    "title": {"required": True, "max_length": <<max_length>>},
    "score": {"required": False, "minimum": 0, "maximum": <<maximum>>},
    "owner_email": {"required": False, "contains": "@"},
}


def violations(document: dict) -> list[str]:
    """Every rule the document breaks, as messages naming the field."""
    found = []
    for name, rule in RULES.items():
        value = document.get(name)
        if value is None:
            if rule.get("required"):
                found.append(f"{name} is required")
            continue
        if "max_length" in rule and len(str(value)) > rule["max_length"]:
            found.append(f"{name} is longer than {rule['max_length']}")
        if "minimum" in rule and not rule["minimum"] <= value <= rule["maximum"]:
            found.append(f"{name} must be within {rule['minimum']}..{rule['maximum']}")
        if "contains" in rule and rule["contains"] not in str(value):
            found.append(f"{name} must contain {rule['contains']!r}")
    return found
'''

BACKEND_LOGIC = '''"""<<title>>: checks submitted <<noun>>s against rules, keeps the accepted."""

import logging
from datetime import UTC, datetime

from core.config.database import db
from core.event_bus import event_bus

from .rules import RULES, violations

logger = logging.getLogger("mozaiks_plugins.<<plugin>>")
ACCEPTED = "<<collection>>"


async def execute(data: dict) -> dict:
    user_id = data["user_id"]
    action = data.get("action", "check")
    document = data.get("document") or {}
    if action == "rules":
        return {"rules": RULES}
    if action == "check":
        return {"violations": violations(document)}
    if action == "submit":
        problems = violations(document)
        if problems:
            return {"error": problems[0], "violations": problems, "http_status": 422}
        stored = {**document, "user_id": user_id, "accepted_at": datetime.now(UTC)}
        result = await db[ACCEPTED].insert_one(stored)
        item_id = str(result.inserted_id)
        event_bus.publish("<<prefix>>:accepted", {"user_id": user_id, "id": item_id})
        logger.info("accepted %s", result.inserted_id)
        return {"success": True, "id": str(result.inserted_id)}
    if action == "accepted":
        items = await db[ACCEPTED].find({"user_id": user_id}).to_list(50)
        return {"count": len(items), "titles": [i.get("title") for i in items]}
    return {"error": f"Unknown action: {action}", "error_code": "validation_error"}
'''

COMPUTE_LOGIC = '''"""<<title>>: statistics and CSV conversions of <<noun>> figures, in memory.

No service at all: what a plugin that only computes looks like.
"""

import csv
import io
import math
import statistics

UNITS = <<units>>
MAX_ROWS = <<max_rows>>


async def execute(data: dict) -> dict:
    action = data.get("action", "stats")
    if action == "stats":
        return _stats(data.get("values") or [])
    if action == "to_csv":
        return _to_csv(data.get("rows") or [])
    if action == "from_csv":
        return _from_csv(str(data.get("text", "")))
    if action == "convert":
        return _convert(data)
    return {"error": f"Unknown action: {action}", "error_code": "validation_error"}


def _stats(values: list) -> dict:
    numbers = [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]
    if not numbers:
        return {"error": "values must hold at least one number", "field": "values"}
    return {
        "count": len(numbers),
        "mean": statistics.fmean(numbers),
        "median": statistics.median(numbers),
        "stdev": statistics.pstdev(numbers),
        "min": min(numbers),
        "max": max(numbers),
    }


def _to_csv(rows: list) -> dict:
    rows = [r for r in rows if isinstance(r, dict)][:MAX_ROWS]
    columns = sorted({key for row in rows for key in row})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    return {"csv": buffer.getvalue(), "rows": len(rows)}


def _from_csv(text: str) -> dict:
    reader = csv.DictReader(io.StringIO(text))
    rows = [row for _, row in zip(range(MAX_ROWS), reader, strict=False)]
    return {"rows": rows, "columns": reader.fieldnames or []}


def _convert(data: dict) -> dict:
    unit_from, unit_to = data.get("from"), data.get("to")
    if unit_from not in UNITS or unit_to not in UNITS:
        return {"error": f"units are {', '.join(UNITS)}", "field": "from"}
    value = float(data.get("value", 0))
    return {"value": value * UNITS[unit_from] / UNITS[unit_to], "unit": unit_to}
'''


@dataclass(frozen=True)
class PluginSpec:
    """One generated plugin: its folder name, its kind and a call that must answer 200."""

    name: str
    kind: str
    probe: dict[str, object]


def fill(template: str, **values: object) -> str:
    """``template`` with each ``<<key>>`` replaced; ``<<`` markers avoid clashing with the
    braces and ``$`` operators the generated code is full of."""
    text = re.sub(r"<<(\w+)>>", lambda m: str(values[m.group(1)]), template)
    assert "<<" not in text, text
    return text


def _write(folder: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _manifest(title: str, description: str, **keys: object) -> str:
    return json.dumps(
        {"display_name": title, "description": description, "version": "1.2.0", **keys},
        indent=2,
    )


def _crud(name: str, common: dict[str, object], rng: random.Random) -> tuple[dict, dict]:
    """A CRUD plugin whose manifest types every action, as ``tessera new plugin`` does."""
    fields = ["title", *rng.sample(sorted(FIELD_POOL), rng.randint(2, 5))]
    required = ["title", *rng.sample(fields[1:], rng.randint(0, 1))]
    statuses = rng.choice(STATUS_SETS)
    schemas = {"title": {"type": "string", "minLength": 1, "maxLength": 200}}
    schemas.update({f: FIELD_POOL[f][0] for f in fields[1:]})
    id_schema = {"type": "string", "pattern": "^[0-9a-f]{24}$"}
    actions = {
        "list": {
            "description": "The caller's items, newest first.",
            "input": {
                "type": "object",
                "properties": {
                    "status": {"enum": list(statuses)},
                    "page": {"type": "integer", "minimum": 0},
                },
            },
        },
        "create": {
            "description": "Add an item.",
            "input": {"type": "object", "required": required, "properties": schemas},
            "output": {"type": "object", "properties": {"id": {"type": "string"}}},
        },
        "get": {"input": {"type": "object", "required": ["id"], "properties": {"id": id_schema}}},
        "update": {
            "input": {
                "type": "object",
                "required": ["id"],
                "properties": {"id": id_schema, **schemas},
            }
        },
        "set_status": {
            "input": {
                "type": "object",
                "required": ["id", "status"],
                "properties": {"id": id_schema, "status": {"enum": list(statuses)}},
            }
        },
        "delete": {
            "input": {"type": "object", "required": ["id"], "properties": {"id": id_schema}}
        },
        "summary": {"description": "How many items in each status."},
    }
    logic = fill(
        CRUD_LOGIC,
        **common,
        fields=repr(tuple(fields)),
        required=repr(tuple(required)),
        statuses=repr(statuses),
        page_size=rng.choice((20, 25, 50, 100)),
    )
    probe = {"action": "create", **{f: FIELD_POOL[f][1] for f in fields[1:]}, "title": "x"}
    files = {
        "logic.py": logic,
        "manifest.json": _manifest(
            str(common["title"]), f"Track {common['noun']}s.", actions=actions
        ),
    }
    if rng.random() < 0.5:
        files["__init__.py"] = ""
    return files, probe


def _events(name: str, common: dict[str, object], rng: random.Random) -> tuple[dict, dict]:
    """A feed built from another plugin's events, with a plain handler on runtime events."""
    subscribed, key = rng.choice(
        (
            ("plugin_executed", "plugin"),
            ("notification_created", "notification_type"),
            ("plugin_settings_updated", "plugin"),
        )
    )
    logic = fill(
        EVENTS_LOGIC,
        **common,
        keep_days=rng.choice((7, 30, 90)),
        page_size=rng.choice((20, 50)),
        subscribed=subscribed,
        count_key=key,
    )
    files = {"logic.py": logic}
    if rng.random() < 0.6:
        files["manifest.json"] = _manifest(
            str(common["title"]), f"Activity of {common['watched']}.", max_concurrency=16
        )
    return files, {"action": "post", "text": "hello"}


def _settings(name: str, common: dict[str, object], rng: random.Random) -> tuple[dict, dict]:
    """Reminders with per-user settings, notifications and operator limits in the manifest."""
    settings = {
        "type": "object",
        "properties": {
            "lead_minutes": {
                "type": "integer",
                "minimum": 0,
                "maximum": 10080,
                "default": rng.choice((15, 60, 1440)),
            },
            "notify": {"type": "boolean", "default": True},
            "channel": {"type": "string", "enum": ["in_app", "email"], "default": "in_app"},
            "quiet_hours": {
                "type": "array",
                "items": {"type": "integer", "minimum": 0, "maximum": 23},
                "maxItems": 2,
                "default": [22, 7],
            },
        },
        "additionalProperties": False,
    }
    limits: dict[str, object] = {
        "settings": settings,
        "rate_limit": rng.choice(("60/minute", "1000/hour", "10/second")),
        "timeout": rng.choice((5, 10, 15)),
    }
    if rng.random() < 0.3:
        limits["roles"] = ["editor", "admin"]
    files = {
        "logic.py": fill(SETTINGS_LOGIC, **common, page_size=rng.choice((20, 50))),
        "manifest.json": _manifest(
            str(common["title"]), f"Reminders about {common['noun']}s.", **limits
        ),
    }
    return files, {"action": "remind", "subject": "renew"}


def _package(name: str, common: dict[str, object], rng: random.Random) -> tuple[dict, dict]:
    """A plugin split into modules that import each other relatively."""
    kinds = tuple(rng.sample(("income", "expense", "refund", "fee", "transfer", "gift"), 3))
    actions = {
        "add": {
            "description": "Add an entry.",
            "input": {
                "type": "object",
                "required": ["name", "amount"],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "amount": {"type": ["number", "string"]},
                    "kind": {"enum": list(kinds)},
                    "contact": {"type": "string"},
                },
            },
        },
        "recent": {"input": {"type": "object", "properties": {"limit": {"type": "integer"}}}},
        "totals": {"description": "Sums per kind."},
    }
    values = {**common, "currency": rng.choice(("EUR", "USD", "GBP")), "kinds": repr(kinds)}
    files = {
        "__init__.py": fill(PACKAGE_INIT, **values),
        "helpers.py": fill(PACKAGE_HELPERS, **values),
        "queries.py": fill(PACKAGE_QUERIES, **values),
        "logic.py": fill(PACKAGE_LOGIC, **values),
        "manifest.json": _manifest(
            str(common["title"]), f"{common['noun']} amounts.", actions=actions
        ),
    }
    return files, {"action": "add", "name": "Café Crème", "amount": "3.50", "kind": kinds[0]}


def _backend(name: str, common: dict[str, object], rng: random.Random) -> tuple[dict, dict]:
    """The ``backend/logic.py`` layout, with its manifest beside the logic."""
    values = {**common, "max_length": rng.choice((80, 120)), "maximum": rng.choice((10, 100))}
    files = {
        "backend/__init__.py": "",
        "backend/rules.py": fill(BACKEND_RULES, **values),
        "backend/logic.py": fill(BACKEND_LOGIC, **values),
        "backend/manifest.json": _manifest(str(common["title"]), "Rule checks.", timeout=5),
    }
    return files, {"action": "submit", "document": {"title": "ok", "score": 3}}


def _compute(name: str, common: dict[str, object], rng: random.Random) -> tuple[dict, dict]:
    """A plugin that imports no service: statistics, CSV, unit conversions."""
    units = {"unit": 1, "dozen": 12, "gross": 144} if rng.random() < 0.5 else {"g": 1, "kg": 1000}
    files = {
        "logic.py": fill(
            COMPUTE_LOGIC, **common, units=repr(units), max_rows=rng.choice((500, 1000))
        )
    }
    if rng.random() < 0.5:
        files["manifest.json"] = _manifest(
            str(common["title"]),
            "Figures.",
            actions={
                "stats": {
                    "input": {
                        "type": "object",
                        "required": ["values"],
                        "properties": {
                            "values": {"type": "array", "items": {"type": "number"}, "minItems": 1}
                        },
                    }
                }
            },
        )
    return files, {"action": "stats", "values": [1, 2, 3.5]}


GENERATORS: dict[str, Callable[[str, dict[str, object], random.Random], tuple[dict, dict]]] = {
    "crud": _crud,
    "events": _events,
    "settings": _settings,
    "package": _package,
    "backend": _backend,
    "compute": _compute,
}


def generate_plugins(folder: Path, count: int) -> list[PluginSpec]:
    """Write ``count`` distinct plugins into ``folder``; deterministic for a given count."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    specs: list[PluginSpec] = []
    for index in range(count):
        rng = random.Random(index)
        noun = NOUNS[index % len(NOUNS)]
        role = ROLES[(index // len(NOUNS)) % len(ROLES)]
        cycle = index // (len(NOUNS) * len(ROLES))
        name = f"{noun}_{role}" + (f"_{cycle}" if cycle else "")
        if index % 9 == 4:
            name = name.replace("_", "-")  # folder names may contain hyphens
        kind = KIND_CYCLE[index % len(KIND_CYCLE)]
        common: dict[str, object] = {
            "plugin": name,
            "prefix": name.replace("-", "_"),
            "title": name.replace("_", " ").replace("-", " ").title(),
            "noun": noun,
            "noun_title": noun.title(),
            "collection": f"{name.replace('-', '_')}_items",
            # Feeds follow the plugin generated just before them.
            "watched": specs[-1].name.replace("-", "_") if specs else "todo",
        }
        files, probe = GENERATORS[kind](name, common, rng)
        _write(folder / name, files)
        specs.append(PluginSpec(name, kind, probe))
    return specs


def source_lines(folder: Path) -> list[int]:
    """Lines of Python per plugin folder, to show the generated plugins' size."""
    return [
        sum(len(p.read_text().splitlines()) for p in plugin.rglob("*.py"))
        for plugin in sorted(folder.iterdir())
    ]


# --------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------


@dataclass
class Sample:
    """One start: seconds from spawn to ready, the CPU seconds the process used until
    then (steadier than the wall time when other work shares the machine), and resident
    memory after the idle wait."""

    seconds: float
    cpu: float = 0.0
    rss_mb: float = 0.0
    peak_mb: float = 0.0


@dataclass
class Series:
    """The samples of one figure over the runs."""

    label: str
    samples: list[Sample] = field(default_factory=list)

    def seconds(self) -> list[float]:
        return [s.seconds for s in self.samples]

    def cpu(self) -> list[float]:
        return [s.cpu for s in self.samples]

    def rss(self) -> list[float]:
        return [s.rss_mb for s in self.samples]


@dataclass
class Lab:
    """Where and how the measured processes run: scratch folder, environment, idle wait."""

    work: Path
    idle: float

    @property
    def log(self) -> Path:
        """The output of the server being measured, shown when it fails to start."""
        return self.work / "server.log"

    @property
    def pycache(self) -> Path:
        return self.work / "pycache"

    def env(self, bytecode: bool = True) -> dict[str, str]:
        """The children's environment.

        With ``bytecode``, every child writes and reads bytecode under a prefix in the
        scratch folder (PYTHONPYCACHEPREFIX): nothing lands in the checkout, a warm start
        really finds its bytecode even when the calling shell sets PYTHONDONTWRITEBYTECODE
        (as many shells and container images do), and deleting a folder under the prefix
        makes its modules cold again. Without, PYTHONDONTWRITEBYTECODE=1: only what pip
        compiled at install time is cached, so an editable Tessera and every plugin are
        compiled from source at each start."""
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.pop("PYTHONPYCACHEPREFIX", None)
        if bytecode:
            env["PYTHONPYCACHEPREFIX"] = str(self.pycache)
        else:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        return env

    def forget_bytecode(self, folder: Path) -> None:
        """Drop the cached bytecode of the modules under ``folder``."""
        shutil.rmtree(self.pycache / folder.resolve().relative_to("/"), ignore_errors=True)
        for cache in list(folder.rglob("__pycache__")):
            shutil.rmtree(cache, ignore_errors=True)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (utime and stime of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int) -> tuple[float, float]:
    """VmRSS and VmHWM (peak resident) of a process, in MB (2**20 bytes)."""
    status = Path(f"/proc/{pid}/status").read_text()
    values = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.MULTILINE))
    return int(values["VmRSS"]) / 1024, int(values["VmHWM"]) / 1024


def time_exit(lab: Lab, code: str) -> Sample:
    """Seconds to spawn ``python -c code`` and see it exit: the floor under any server."""
    started = time.perf_counter()
    subprocess.run([PYTHON, "-c", code], check=True, cwd=ROOT, env=lab.env())
    return Sample(time.perf_counter() - started)


def poll(client: httpx.Client, url: str, process: subprocess.Popen[bytes], ready: Ready) -> None:
    """Return once ``GET url`` answers and ``ready(response)`` holds.

    Polls every 5 ms: bench.loadgen.wait_ready sleeps 100 ms, too coarse to time a 2 s
    start, and accepts any answer, where a start only counts once /health says 200."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: server exited with {process.returncode}")
        try:
            response = client.get(url, timeout=5)
        except httpx.TransportError:
            time.sleep(0.005)
            continue
        if ready(response):
            return
        time.sleep(0.005)
    raise RuntimeError(f"{url}: not ready after 120 s")


def start_server(
    lab: Lab, command: list[str], url: str, ready: Ready, bytecode: bool = True
) -> tuple[Sample, subprocess.Popen[bytes]]:
    """Spawn ``command``, time it until ``url`` is ready, then idle and read its memory.

    The caller stops the returned process (after checking more, if it wants)."""
    with httpx.Client() as client, lab.log.open("wb") as output:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=ROOT, env=lab.env(bytecode), stdout=output, stderr=subprocess.STDOUT
        )
        try:
            poll(client, url, process, ready)
        except BaseException:
            stop(process)
            print(lab.log.read_text()[-3000:], file=sys.stderr)
            raise
        seconds = time.perf_counter() - started
        cpu = cpu_seconds(process.pid)
    time.sleep(lab.idle)
    rss, peak = memory_mb(process.pid)
    return Sample(seconds, cpu, rss, peak), process


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def health_ready(expected: int) -> Ready:
    """Ready means 200 from /health with ``expected`` plugins loaded and none failed; a
    200 with another count is an error, not a reason to wait."""

    def ready(response: httpx.Response) -> bool:
        if response.status_code != 200:
            return False
        plugins = response.json()["plugins"]
        if plugins["loaded"] != expected or plugins["failed"]:
            raise RuntimeError(f"/health: {plugins['loaded']} loaded, failed {plugins['failed']}")
        return True

    return ready


def tessera_start(
    lab: Lab, plugins: Path, data: Path, expected: int, bytecode: bool = True
) -> tuple[Sample, subprocess.Popen[bytes], int]:
    """Start ``tessera serve`` as an operator would and time it until healthy."""
    port = free_port()
    command = [PYTHON, "-m", "tessera", "serve", "--plugins", str(plugins), "--data", str(data)]
    command += ["--port", str(port), "--log-level", "warning"]
    url = f"http://127.0.0.1:{port}/health"
    sample, process = start_server(lab, command, url, health_ready(expected), bytecode)
    return sample, process, port


def tessera_sample(
    lab: Lab, plugins: Path, data: Path, expected: int, bytecode: bool = True
) -> Sample:
    """One timed start of ``tessera serve``, stopped once measured."""
    sample, process, _ = tessera_start(lab, plugins, data, expected, bytecode)
    stop(process)
    return sample


def bare_uvicorn(lab: Lab) -> Sample:
    """The bare ASGI app under uvicorn, from spawn until it answers."""
    port = free_port()
    command = [PYTHON, "-m", "uvicorn", "--log-level", "warning", "--no-access-log"]
    command += ["--port", str(port), "bench.apps.bare:app"]
    url = f"http://127.0.0.1:{port}/"
    sample, process = start_server(lab, command, url, lambda r: r.status_code == 200)
    stop(process)
    return sample


def verify_plugins(port: int, data: Path, specs: list[PluginSpec]) -> None:
    """Check every plugin is listed as enabled and answers its probe call with 200.

    Runs against a started server, outside any timing, with a real token of the data
    folder (role ``editor``, which the plugins that require a role accept)."""
    settings = Settings.load({"data": str(data)}, environ={})
    token = local_tokens(settings).issue("bench-user", roles=("editor",), ttl_seconds=3600)
    headers = {"Authorization": f"Bearer {token}"}
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        listed = client.get("/api/plugins").raise_for_status().json()["plugins"]
        enabled = sorted(p["name"] for p in listed if p["status"] == "enabled")
        if enabled != sorted(s.name for s in specs):
            raise RuntimeError(f"/api/plugins lists {len(enabled)} enabled of {len(specs)}")
        failures = []
        for spec in specs:
            response = client.post(f"/api/execute/{spec.name}", json=spec.probe)
            if response.status_code != 200:
                failures.append(
                    f"{spec.name} ({spec.kind}): {response.status_code} {response.text}"
                )
        if failures:
            raise RuntimeError("plugins that do not answer 200:\n  " + "\n  ".join(failures))


def pyc_count(lab: Lab, folder: Path) -> int:
    """Bytecode files cached for the modules under ``folder``."""
    return sum(1 for _ in (lab.pycache / folder.resolve().relative_to("/")).rglob("*.pyc"))


def measure(lab: Lab, runs: int, many: Path, none: Path, specs: list[PluginSpec]) -> dict:
    """Every figure, ``runs`` times, interleaved so that background load spreads evenly.

    A first, unmeasured round fills the bytecode cache of the interpreter's, uvicorn's
    and Tessera's modules, as an installed runtime has it; plugin bytecode is dropped
    before each fresh start."""
    n = len(specs)
    series = {
        "import": Series("python -c 'import starlette, uvicorn'"),
        "imports": Series("python -c '<tessera serve imports>'"),
        "bare": Series("bare ASGI app under uvicorn"),
        "fresh0": Series("tessera, 0 plugins, fresh"),
        "warm0": Series("tessera, 0 plugins, warm"),
        "fresh": Series(f"tessera, {n} plugins, fresh"),
        "warm": Series(f"tessera, {n} plugins, warm"),
        "nocache": Series(f"tessera, {n} plugins, no bytecode cache"),
    }
    time_exit(lab, SERVE_IMPORTS)
    bare_uvicorn(lab)
    tessera_sample(lab, none, lab.work / "data-priming", 0)
    for run in range(runs):
        series["import"].samples.append(time_exit(lab, "import starlette, uvicorn"))
        series["imports"].samples.append(time_exit(lab, SERVE_IMPORTS))
        series["bare"].samples.append(bare_uvicorn(lab))
        for suffix, folder in (("0", none), ("", many)):
            data = lab.work / f"data{suffix}-{run}"
            expected = n if folder == many else 0
            lab.forget_bytecode(folder)
            series["fresh" + suffix].samples.append(tessera_sample(lab, folder, data, expected))
            sample, process, port = tessera_start(lab, folder, data, expected)
            try:
                if run == 0 and expected:
                    cached = pyc_count(lab, folder)
                    verify_plugins(port, data, specs)
                    print(f"checked: all {n} plugins listed and answering 200 ({cached} .pyc)")
            finally:
                stop(process)
            series["warm" + suffix].samples.append(sample)
        data = lab.work / f"data-nocache-{run}"
        series["nocache"].samples.append(tessera_sample(lab, many, data, n, bytecode=False))
        shown = ("bare", "fresh0", "warm0", "fresh", "warm", "nocache")
        times = ", ".join(f"{k} {series[k].samples[-1].seconds:.2f}s" for k in shown)
        print(f"run {run + 1}: {times}", flush=True)
    return series


# --------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------


def spread(values: list[float], unit: str, digits: int) -> str:
    """``median (max)`` of ``values`` with its unit."""
    return f"{statistics.median(values):.{digits}f} {unit} (max {max(values):.{digits}f})"


def verdict(values: list[float], target: float) -> str:
    """yes when every run met the target; 'median only' when only the median did."""
    if max(values) <= target:
        return "yes"
    return "median only" if statistics.median(values) <= target else "NO"


def table(rows: list[tuple[str, str, str, str]]) -> str:
    headers = ("figure", "target", "measured: median (max)", "met")
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(4)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def report(series: dict[str, Series], n: int) -> None:
    """Every figure, what it means per plugin and against the baseline, and the targets."""
    print()
    print(
        f"{'start-up to ready':42} {'median':>8} {'max':>8} {'min':>8} {'CPU':>8}"
        "   idle RSS: median (peak)"
    )
    for s in series.values():
        times = s.seconds()
        cpu = memory = ""
        if s.samples[0].rss_mb:
            cpu = f"{statistics.median(s.cpu()):7.3f}s"
            peak = statistics.median(x.peak_mb for x in s.samples)
            memory = f"   {statistics.median(s.rss()):6.1f} MB ({peak:.1f})"
        print(
            f"{s.label:42} {statistics.median(times):7.3f}s {max(times):7.3f}s "
            f"{min(times):7.3f}s {cpu:>8}{memory}"
        )
    med = {k: statistics.median(s.seconds()) for k, s in series.items()}
    rss = {k: statistics.median(s.rss()) for k, s in series.items()}
    cpu = {k: statistics.median(s.cpu()) for k, s in series.items()}
    print()
    if n:
        print(
            f"per plugin: {(med['warm'] - med['warm0']) / n * 1000:.2f} ms warm, "
            f"{(med['fresh'] - med['fresh0']) / n * 1000:.2f} ms fresh, "
            f"{(med['nocache'] - med['warm0']) / n * 1000:.2f} ms without bytecode; "
            f"{(cpu['warm'] - cpu['warm0']) / n * 1000:.2f} ms CPU warm; "
            f"{(rss['warm'] - rss['warm0']) / n * 1024:.0f} KB resident"
        )
    print(
        f"tessera, 0 plugins / bare uvicorn: {med['warm0'] / med['bare']:.2f}x start-up "
        f"(+{med['warm0'] - med['bare']:.3f} s, +{cpu['warm0'] - cpu['bare']:.3f} s CPU), "
        f"{rss['warm0'] / rss['bare']:.2f}x memory (+{rss['warm0'] - rss['bare']:.1f} MB)"
    )
    print(
        f"tessera, {n} plugins / bare uvicorn: {med['warm'] / med['bare']:.2f}x start-up "
        f"(+{med['warm'] - med['bare']:.3f} s, +{cpu['warm'] - cpu['bare']:.3f} s CPU), "
        f"{rss['warm'] / rss['bare']:.2f}x memory (+{rss['warm'] - rss['bare']:.1f} MB)"
    )
    print(
        "importing what tessera serve imports, spawn to exit: "
        f"+{med['imports'] - med['import']:.3f} s over starlette and uvicorn alone"
    )
    print()
    start, memory = f"<= {START_TARGET:.0f} s", f"<= {MEMORY_TARGET:.0f} MB"
    rows = [
        (f"start-up, {n} plugins, warm", start, "warm", "s"),
        (f"start-up, {n} plugins, fresh data and plugin bytecode", start, "fresh", "s"),
        (f"start-up, {n} plugins, no bytecode cache at all", start, "nocache", "s"),
        (f"idle RSS, {n} plugins, warm", memory, "warm", "MB"),
        (f"idle RSS, {n} plugins, no bytecode cache", memory, "nocache", "MB"),
        ("start-up, 0 plugins, warm", "-", "warm0", "s"),
        ("idle RSS, 0 plugins", "-", "warm0", "MB"),
        ("start-up, bare uvicorn app", "-", "bare", "s"),
        ("idle RSS, bare uvicorn app", "-", "bare", "MB"),
    ]
    cells = []
    for label, target, key, unit in rows:
        values = series[key].seconds() if unit == "s" else series[key].rss()
        limit = START_TARGET if unit == "s" else MEMORY_TARGET
        met = verdict(values, limit) if target != "-" else "-"
        cells.append((label, target, spread(values, unit, 2 if unit == "s" else 1), met))
    print(table(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plugins", type=int, default=200, help="plugins to generate")
    parser.add_argument("--runs", type=int, default=5, help="starts of each kind")
    parser.add_argument("--idle", type=float, default=2.0, help="seconds idle before RSS")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()
    if args.runs < 1 or args.plugins < 1:
        parser.error("--runs and --plugins must be at least 1")

    lab = Lab(Path(tempfile.mkdtemp(prefix="tessera-startup-")), args.idle)
    many, none = lab.work / "plugins", lab.work / "no-plugins"
    none.mkdir()
    specs = generate_plugins(many, args.plugins)
    lines = source_lines(many) or [0]
    kinds = ", ".join(f"{sum(s.kind == k for s in specs)} {k}" for k in GENERATORS)
    manifests = sum(1 for _ in many.rglob("manifest.json"))
    print(
        f"{len(specs)} plugins ({kinds}), {min(lines)}-{max(lines)} lines of Python each "
        f"(median {statistics.median(lines):.0f}), {manifests} with a manifest"
    )
    print(f"{args.runs} runs; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    try:
        series = measure(lab, args.runs, many, none, specs)
    finally:
        if args.keep:
            print(f"kept {lab.work}")
        else:
            shutil.rmtree(lab.work, ignore_errors=True)
    report(series, len(specs))


if __name__ == "__main__":
    main()
