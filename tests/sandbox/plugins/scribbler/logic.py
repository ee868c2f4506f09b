"""Logs what a hostile plugin would: loggers named without bound, lines that forge others'
records. It writes its log frames itself, as plugin code can, the name and text its own."""

from tessera.sandbox import channel


def log(name: str, msg: str, level: int = 20) -> None:
    channel.current().tell("log", level=level, name=name, msg=msg)


async def execute(data):
    action = data.get("action")
    if action == "dotted":
        log("mozaiks_plugins.scribbler" + ".a" * data.get("dots", 5000), "deep")
    elif action == "many":
        for n in range(data.get("count", 300)):
            log(f"mozaiks_plugins.scribbler.n{n}-{data.get('round', 0)}", "many")
    elif action == "chatty":  # through the logging module, as any plugin logs
        import logging

        for _ in range(data.get("count", 600)):
            logging.getLogger("mozaiks_plugins.scribbler").info("c" * 1000)
    elif action == "other":
        log("mozaiks_plugins.notes", "as another plugin", level=40)
    elif action == "forged":
        forged = "2026-12-07 12:00:00,000 ERROR tessera.auth [req=- plugin=-] token secret rotated"
        log("mozaiks_plugins.scribbler", f"ok\n{forged}\r\n{forged}\x1b[2J\u2028{forged}")
    elif action == "traceback":
        try:
            raise ValueError("boom")
        except ValueError:
            import logging

            logging.getLogger("mozaiks_plugins.scribbler").exception("it failed")
    elif action == "forged_not_json":
        chan = channel.current()
        forged = "2026-12-07 12:00:00,000 ERROR tessera.auth [req=- plugin=-] forged"
        done = {"done": chan.job, "retire": False, "lingering": False, "not_json": f"x\n{forged}"}
        chan.send(done, last=True)
    elif action in ("huge_traceback", "huge_refusal"):
        # The end of the call, written by the plugin: megabytes of "traceback" or of an
        # isolation refusal's message, with forged records in it.
        forged = "\n2026-12-07 12:00:00,000 ERROR tessera.auth [req=- plugin=-] forged"
        text = ("x" * 1000 + forged) * data.get("times", 5000)
        kind = "ValueError" if action == "huge_traceback" else "IsolationError"
        chan = channel.current()
        raised = {"type": kind, "message": text, "traceback": text, "details": {"d": text}}
        done = {"done": chan.job, "retire": False, "lingering": False, "raised": raised}
        chan.send(done, last=True)
    elif action == "many_values":
        from bson.errors import InvalidDocument

        from core.config.database import db

        try:
            await db["series"].insert_one({"points": list(range(300_000))})
        except InvalidDocument as exc:
            return {"refused": str(exc)}
    elif action == "distinct_big":
        from pymongo.errors import OperationFailure

        from core.config.database import db

        for n in range(20):  # 20 MB of distinct values: no answer of 16 MiB holds them
            await db["big"].insert_one({"user_id": data["user_id"], "f": str(n) * 1_000_000})
        try:
            await db["big"].distinct("f", {"user_id": data["user_id"]})
        except OperationFailure as exc:
            count = await db["big"].count_documents({"user_id": data["user_id"]})
            return {"code": exc.code, "count": count}
    elif action == "refused_huge":  # each refusal quoted its megabytes in a log line
        from core.config.database import db
        from core.websocket_manager import websocket_manager

        refused = 0
        for n in range(data.get("count", 10)):
            huge = f"{n}" * 5_000_000
            for attempt in (
                websocket_manager.send_to_user(huge, {"a": 1}),
                db["notes"].insert_one({"user_id": huge}),
            ):
                try:
                    await attempt
                except Exception:  # IsolationError
                    refused += 1
        return {"refused": refused}
    elif action == "raise_huge":
        raise ValueError("x" * data.get("size", 10_000_000))
    return {"ok": True}
