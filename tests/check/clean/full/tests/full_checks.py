"""A plugin's own tests are not plugin code: unscoped reads here are fine."""

from core.config.database import db


async def reads_everything() -> None:
    assert await db["full_items"].find({}).to_list(None) is not None
