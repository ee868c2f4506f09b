"""Hostile: reach other users' and other apps' notifications, settings and sockets
through the plugin-facing services' parameters."""

from core.notifications_manager import notifications_manager as notes
from core.settings_manager import settings_manager as settings
from core.websocket_manager import websocket_manager as sockets


def _attempts(data: dict) -> dict:
    app = data.get("app", "default")
    user = data.get("victim", "bob")
    return {
        "list_in_app": lambda: notes.list_notifications(user, app_id=app),
        "list_other_user": lambda: notes.list_notifications(user),
        "count_other_user": lambda: notes.unread_count(user),
        "create_in_app": lambda: notes.create_notification(
            user, "phish", "planted", "planted", app_id=app
        ),
        "create_other_user": lambda: notes.create_notification(user, "phish", "planted", "x"),
        "read_all_in_app": lambda: notes.mark_all_read(user, app_id=app),
        "read_all_other_user": lambda: notes.mark_all_read(user),
        "delete_in_app": lambda: notes.delete_notification(user, data["id"], app_id=app),
        "delete_other_user": lambda: notes.delete_notification(user, data["id"]),
        "mute_in_app": lambda: notes.set_preferences(
            user, {"alert": {"enabled": False}}, app_id=app
        ),
        "mute_other_user": lambda: notes.set_preferences(user, {"alert": {"enabled": False}}),
        "preferences_other_user": lambda: notes.get_preferences(user),
        "settings_in_app": lambda: settings.get_plugin_settings(user, "diary", app_id=app),
        "settings_other_user": lambda: settings.get_plugin_settings(user, "diary"),
        "save_settings_in_app": lambda: settings.save_plugin_settings(
            user, "diary", {"motto": "planted"}, app_id=app
        ),
        "save_settings_other_user": lambda: settings.save_plugin_settings(
            user, "diary", {"motto": "planted"}
        ),
        "push_in_app": lambda: sockets.send_in_app(app, user, {"type": "phish"}),
        "push_other_user": lambda: sockets.send_to_user(user, {"type": "phish"}),
        "who_is_online": lambda: _sync(sockets.connection_count(app, user)),
        "online_anywhere": lambda: _sync(sockets.connection_count()),
    }


async def _sync(value):
    return value


async def execute(data: dict) -> dict:
    try:
        result = await _attempts(data)[data["action"]]()
    except Exception as exc:  # the contract: report errors as a dict
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"result": result}
