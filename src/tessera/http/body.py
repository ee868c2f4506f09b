"""Reading request bodies: size-limited, JSON objects or forms, clear errors otherwise."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message, Receive

from tessera.http.errors import BadRequest, PayloadTooLarge
from tessera.store.engine.documents import MAX_NESTING, nested_deeper_than


async def receive_body(receive: Receive, declared_length: str | None, max_bytes: int) -> bytes:
    """The raw body from an ASGI ``receive``, refused with 413 as soon as it passes
    ``max_bytes``; ClientDisconnect when the client leaves first."""
    declared = int(declared_length) if declared_length and declared_length.isdigit() else 0
    if declared > max_bytes:
        raise PayloadTooLarge(f"Request body is larger than the limit of {max_bytes} bytes.")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"Request body is larger than the limit of {max_bytes} bytes.")
        if not message.get("more_body", False):
            return b"".join([*chunks, chunk]) if chunks else chunk
        chunks.append(chunk)


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The raw body of a Starlette request (see :func:`receive_body`)."""
    return await receive_body(request.receive, request.headers.get("content-length"), max_bytes)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Decode ``raw`` as a JSON object; an empty body is ``{}``. Nesting deeper than the
    store holds is refused: such a body could be neither stored nor sent back as JSON."""
    if not raw.strip():
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"Request body is not valid JSON: {exc.msg}.") from None
    if not isinstance(value, dict):
        raise BadRequest(f"Request body must be a JSON object, not {type(value).__name__}.")
    # Fewer brackets than levels allowed cannot nest too deep: most bodies skip the walk.
    brackets = raw.count(b"{") + raw.count(b"[")
    if brackets > MAX_NESTING and nested_deeper_than(value, MAX_NESTING):
        raise BadRequest(
            f"Request body nests objects and arrays more than {MAX_NESTING} levels deep."
        )
    return value


async def read_json_object(request: Request, max_bytes: int) -> dict[str, Any]:
    """The body as a JSON object, with 413 for an oversized and 400 for a malformed body."""
    return parse_json_object(await read_body(request, max_bytes))


# A form is a login's few fields: more is not a login.
MAX_FORM_FIELDS = 20


async def read_form(request: Request, max_bytes: int) -> dict[str, str]:
    """The text fields of a form body (URL-encoded or multipart), read within ``max_bytes``
    (413 above) and parsed by Starlette; a file or a malformed form is a 400."""
    raw = await read_body(request, max_bytes)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}

    form = await Request(request.scope, replay).form(max_files=0, max_fields=MAX_FORM_FIELDS)
    return {key: value for key, value in form.multi_items() if not isinstance(value, UploadFile)}
