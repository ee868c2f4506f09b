import asyncio

from core.entitlements import check_feature, consume_limit, get_usage
from core.event_bus import on_event

SEEN = []


@on_event("entitlement.*")
async def remember(payload):
    SEEN.append(payload)


async def execute(data: dict) -> dict:
    action = data.get("action")
    if action == "create_slowly":
        await asyncio.sleep(data.get("seconds", 0.05))
    if action == "create_and_fail":
        return {"error": "the note is too long", "error_code": "validation_error"}
    if action == "create_and_crash":
        raise RuntimeError("boom")
    if action == "events":
        return {"events": SEEN}
    if action == "sdk":
        user, me = data["user_id"], "notes"
        return {
            "export": await check_feature(user, me, "export"),
            "remaining": await consume_limit(user, me, "notes_per_month", 1),
            "usage": await get_usage(user, me, "notes_per_month"),
        }
    if action == "sdk_other_user":
        return {"usage": await get_usage("someone-else", "notes", "notes_per_month")}
    return {"ok": True, "action": action, "entitlements": data["_entitlements"]}
