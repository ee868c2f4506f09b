from core.event_bus import event_bus


def execute(data: dict) -> dict:
    event_bus.publish("svc:from_thread", {"user_id": data["user_id"], "n": data.get("n")})
    return {"published": True}
