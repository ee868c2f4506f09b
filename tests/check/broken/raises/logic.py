"""Exceptions that leave execute, and some that do not."""

import logging

logger = logging.getLogger("mozaiks_plugins.raises")


class NotAllowed(PermissionError):
    pass


def validate(data: dict) -> None:
    if "title" not in data:
        raise ValueError("title required")  # finding: raise-escapes


def check_role(data: dict) -> None:
    if not data["_context"]["is_superadmin"]:
        raise NotAllowed("superadmins only")


def parse(data: dict) -> int:
    raise KeyError("count")


async def execute(data: dict) -> dict:
    action = data.get("action")
    if action == "boom":
        raise RuntimeError("boom")  # finding: raise-escapes
    if action == "caught":
        try:
            raise ValueError("handled")
        except ValueError:
            return {"error": "handled"}
    if action == "wrong_handler":
        try:
            raise TypeError("not a KeyError")  # finding: raise-escapes
        except KeyError:
            return {"error": "never"}
    if action == "reraise":
        try:
            return {"n": 1 / len(data["items"])}
        except ZeroDivisionError:
            logger.exception("empty")
            raise  # finding: raise-escapes
    if action == "subclass":
        try:
            check_role(data)
        except OSError:  # PermissionError is an OSError: caught
            return {"error": "forbidden"}
    if action == "lookup":
        try:
            return {"n": parse(data)}
        except LookupError:  # KeyError is a LookupError: caught
            return {"error": "bad count"}
    validate(data)
    return {"ok": True}
