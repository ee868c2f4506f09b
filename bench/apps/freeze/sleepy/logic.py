"""A synchronous plugin that blocks its thread until a file appears."""

import os
import time


def execute(data: dict) -> dict:
    while not os.path.exists(data["release"]):
        time.sleep(0.01)
    return {"slept": True}
