import logging

logger = logging.getLogger("mozaiks_plugins.echo")


async def execute(data: dict) -> dict:
    logger.info("echo called with action %s", data.get("action"))
    return {"received": data}
