"""The JavaScript client's test plugin: each action exercises one outcome of a call."""

from core.notifications_manager import notifications_manager
from core.websocket_manager import websocket_manager


async def execute(data: dict) -> dict:
    action = data.get("action")
    user_id = data["user_id"]
    if action == "greet":
        return {"greeting": f"hello {data['name']}"}
    if action == "echo":
        return {"echo": data.get("value")}
    if action == "crash":
        raise RuntimeError("the probe crashed on request")
    if action == "refuse":
        return {"error": "the probe refuses", "error_code": "forbidden"}
    if action == "burst":
        start, count = int(data.get("start", 0)), int(data.get("count", 1))
        seqs = []
        for n in range(start, start + count):
            seqs.append(await websocket_manager.send_to_user(user_id, {"type": "tick", "n": n}))
        return {"seqs": seqs}
    if action == "notify":
        notification_id = await notifications_manager.create_notification(
            user_id=user_id,
            notification_type="probe_done",
            title=str(data.get("title", "Probe")),
            message="done",
        )
        return {"id": notification_id}
    return {"error": f"Unknown action: {action}"}
