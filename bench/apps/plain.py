"""The comparison: a plain Starlette route doing the `list` plugin's work by hand.

It verifies the bearer token (PyJWT, HS256, the same secret), runs the same per-user query
on the same embedded store file, and answers JSON: what a developer would write without
Tessera. Configured by BENCH_DATA (the Tessera data folder holding store.db and the secret).
"""

import os
from pathlib import Path

import jwt
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tessera.auth.secret import load_or_create_secret
from tessera.store import open_client

DATA = Path(os.environ["BENCH_DATA"])
SECRET = load_or_create_secret(DATA)
client = open_client(str(DATA / "store.db"))
items = client["default"]["list_items"]


def default(value):
    return str(value)


async def list_items(request: Request) -> Response:
    header = request.headers.get("authorization", "")
    try:
        claims = jwt.decode(header.removeprefix("Bearer "), SECRET, algorithms=["HS256"])
    except jwt.PyJWTError:
        return Response(b'{"error":"unauthorized"}', 401, media_type="application/json")
    await request.body()
    user_id = claims["sub"]
    docs = await items.find({"user_id": user_id}).sort("created_at", -1).to_list(100)
    for doc in docs:
        doc["_id"] = str(doc["_id"])
    body = orjson.dumps({"items": docs, "count": len(docs)}, default=default)
    return Response(body, media_type="application/json")


app = Starlette(routes=[Route("/list", list_items, methods=["POST"])])
