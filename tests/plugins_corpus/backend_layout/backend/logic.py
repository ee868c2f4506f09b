from .util import answer


def run(data: dict) -> dict:
    return {"answer": answer()}
