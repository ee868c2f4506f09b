from core.settings_manager import settings_manager


async def execute(data: dict) -> dict:
    user_id = data["user_id"]
    if data.get("action") == "save":
        return await settings_manager.save_plugin_settings(user_id, "svc_settings", data["values"])
    return {"settings": await settings_manager.get_plugin_settings(user_id, "svc_settings")}
