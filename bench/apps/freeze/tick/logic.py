"""An ordinary synchronous plugin."""


def execute(data: dict) -> dict:
    return {"tick": data.get("n", 0)}
