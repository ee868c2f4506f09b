"""What a plugin's code gets of asyncio is the same in-process and sandboxed: a task of
its own (``asyncio.timeout`` needs one), context variables that start fresh each call,
and a call that cancels its own task affects that call only."""

from __future__ import annotations

from pathlib import Path

ASYNCIO_USER = """
import asyncio
import contextvars

remembered = contextvars.ContextVar("remembered", default=None)


async def _child():
    await asyncio.sleep(0)
    return remembered.get()


async def execute(data: dict) -> dict:
    action = data["action"]
    if action == "timeout":
        async with asyncio.timeout(5):
            await asyncio.sleep(0.01)
        try:
            async with asyncio.timeout(0.05):
                await asyncio.sleep(5)
        except TimeoutError:
            return {"task": asyncio.current_task() is not None, "timed_out": True}
        return {"timed_out": False}
    if action == "remember":
        remembered.set(data["value"])
        return {"child": await asyncio.create_task(_child())}
    if action == "recall":
        return {"value": remembered.get()}
    if action == "cancel_self":
        asyncio.current_task().cancel()
        return {"cancelled": True}
    if action == "cancel_and_catch":
        asyncio.current_task().cancel()
        try:
            await asyncio.sleep(1)
        except asyncio.CancelledError:
            return {"caught": True}
        return {"caught": False}
    return {"ok": True}
"""


def _plugins(tmp_path: Path) -> Path:
    folder = tmp_path / "plugins" / "asyncio_user"
    folder.mkdir(parents=True)
    (folder / "logic.py").write_text(ASYNCIO_USER)
    return folder.parent


def call(client, **body):
    response = client.post("/api/execute/asyncio_user", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_call_runs_as_a_task_that_asyncio_timeout_works_in(serve, tmp_path: Path) -> None:
    live = serve(_plugins(tmp_path))
    with live.client("alice") as alice:
        assert call(alice, action="timeout") == {"task": True, "timed_out": True}
        assert call(alice, action="timeout") == {"task": True, "timed_out": True}


def test_context_variables_a_call_sets_are_gone_at_the_next(serve, tmp_path: Path) -> None:
    live = serve(_plugins(tmp_path))
    with live.client("alice") as alice, live.client("bob") as bob:
        assert call(alice, action="remember", value="alice's") == {"child": "alice's"}
        assert call(bob, action="recall") == {"value": None}
        assert call(alice, action="recall") == {"value": None}


def test_a_call_cancelling_its_own_task_leaves_the_next_call_alone(serve, tmp_path: Path) -> None:
    live = serve(_plugins(tmp_path))
    with live.client("alice") as alice, live.client("bob") as bob:
        assert call(alice, action="cancel_and_catch") == {"caught": True}
        assert call(bob, action="timeout") == {"task": True, "timed_out": True}
        # The cancellation is still pending when the call returns: it must not reach the
        # next call, whoever makes it (in a sandbox worker, the same worker's next call).
        assert call(alice, action="cancel_self") == {"cancelled": True}
        assert call(bob, action="timeout") == {"task": True, "timed_out": True}
        assert call(bob, action="ok") == {"ok": True}
