from core.event_bus import event_bus
from core.notifications_manager import notifications_manager
from core.websocket_manager import websocket_manager


async def execute(data: dict) -> dict:
    action = data.get("action")
    user_id = data["user_id"]
    if action == "send":
        message = {"type": "svc_update", "n": data.get("n"), "blob": data.get("blob", "")}
        return {"seq": await websocket_manager.send_to_user(data.get("to", user_id), message)}
    if action == "broadcast":
        return {"reached": await websocket_manager.broadcast({"type": "svc_news"})}
    if action == "notify":
        notification_id = await notifications_manager.create_notification(
            user_id=user_id,
            notification_type=data.get("kind", "svc"),
            title=data.get("title", "Hello"),
            message="Something happened",
            metadata={"n": data.get("n")},
        )
        return {"id": notification_id}
    if action == "publish":
        event_bus.publish(data["event"], {"user_id": user_id, "n": data.get("n")})
        return {"published": True}
    if action == "publish_awaited":
        await event_bus.publish(data["event"], {"user_id": user_id, "n": data.get("n")})
        return {"published": True}
    return {"error": f"Unknown action: {action}"}
