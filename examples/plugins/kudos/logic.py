"""Kudos: one user's action lands in another user's notification bell.

Notifying someone other than the caller is cross-user work: the runtime allows it to
superadmins and to the roles the manifest's ``escalation_roles`` names ("member" here), and
refuses it to anyone else. The check below answers those callers a 403 before trying.
"""

from core.notifications_manager import notifications_manager

ROLE = "member"


async def execute(data: dict) -> dict:
    action = data.get("action", "")
    if action != "send":
        return {"error": f"Unknown action: {action}"}
    context = data["_context"]
    if ROLE not in context["roles"] and not context["is_superadmin"]:
        return {"error": f"Sending kudos needs the {ROLE!r} role.", "error_code": "forbidden"}
    recipient = data["to"].strip()
    if not recipient or recipient == data["user_id"]:
        return {"error": "Send kudos to someone else.", "error_code": "validation_error"}
    notification_id = await notifications_manager.create_notification(
        user_id=recipient,
        notification_type="kudos",
        title=f"Kudos from {context['username']}",
        message=data["message"],
        metadata={"from": data["user_id"]},
    )
    return {"success": True, "id": notification_id}
