"""Creates collections under names MongoDB refuses: of a megabyte, holding a NUL."""

from core.config.database import db


async def execute(data):
    refused = []
    for name in ("n" * 1_000_000, "bad\x00name", "fine"):
        try:
            await db[name].insert_one({"x": 1})
        except ValueError as exc:
            refused.append(str(exc)[:120])
    return {"refused": refused}
