from . import helpers
from .helpers.greeting import greet
from .settings import DEFAULT_NAME


async def execute(data: dict) -> dict:
    return {"greeting": greet(data.get("name", DEFAULT_NAME)), "version": helpers.VERSION}
