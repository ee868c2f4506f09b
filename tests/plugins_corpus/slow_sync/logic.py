import time


def execute(data: dict) -> dict:
    time.sleep(float(data.get("seconds", 1.0)))
    return {"slept": True}
