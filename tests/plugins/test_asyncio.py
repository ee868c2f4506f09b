"""What a plugin's code gets of asyncio is the same in-process and sandboxed: a task of
its own (``asyncio.timeout`` needs one), context variables that start fresh each call,
and a call that cancels its own task affects that call only."""

from __future__ import annotations

from pathlib import Path

ASYNCIO_USER = """
import asyncio
import contextvars
import os
import weakref

remembered = contextvars.ContextVar("remembered", default=None)
# What a plugin keeps per task, as per request: SQLAlchemy's
# async_scoped_session(scopefunc=asyncio.current_task) keeps a session so.
per_task = weakref.WeakKeyDictionary()
PROCESS = os.urandom(8).hex()  # this import's: a process of its own, or a worker


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
    if action == "cancel_and_uncancel":
        task = asyncio.current_task()
        task.cancel()
        task.uncancel()
        return {"cancelled": True}
    if action == "leave_a_cancelling_callback":
        # A callback left behind that cancels the task it was scheduled from, as a
        # deadline whose timer a call forgets to cancel would.
        asyncio.get_running_loop().call_soon(asyncio.current_task().cancel)
        return {"left": True}
    if action == "keep_per_task":
        kept = per_task.setdefault(asyncio.current_task(), {})
        before = dict(kept)
        kept.update(data.get("keep", {}))
        return {"kept_before": before}
    if action == "exit":
        raise SystemExit(3)
    if action == "process":
        return {"process": PROCESS}
    if action == "sleep":
        await asyncio.sleep(0.05)
        return {"slept": True}
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


def test_a_cancellation_withdrawn_but_still_pending_leaves_the_next_call_alone(
    serve, tmp_path: Path
) -> None:
    live = serve(_plugins(tmp_path))
    with live.client("alice") as alice, live.client("bob") as bob:
        # uncancel() takes back the count, not the cancellation the task will get at its
        # next wait: in a sandbox worker that wait was the next call's, bob's.
        assert call(alice, action="cancel_and_uncancel") == {"cancelled": True}
        assert call(bob, action="sleep") == {"slept": True}


def test_a_callback_a_call_leaves_cancelling_its_task_leaves_the_next_call_alone(
    serve, tmp_path: Path
) -> None:
    live = serve(_plugins(tmp_path))
    with live.client("alice") as alice, live.client("bob") as bob:
        # In-process the callback cancels alice's task, ended by then; in a sandbox worker
        # it ran at bob's first wait, on the task serving both, and cancelled bob's call.
        assert call(alice, action="leave_a_cancelling_callback") == {"left": True}
        assert call(bob, action="sleep") == {"slept": True}
        assert call(alice, action="leave_a_cancelling_callback") == {"left": True}
        assert call(bob, action="timeout") == {"task": True, "timed_out": True}


def test_what_a_call_keeps_per_task_the_next_call_does_not_see(serve, tmp_path: Path) -> None:
    live = serve(_plugins(tmp_path))
    with live.client("alice") as alice, live.client("bob") as bob:
        # A sandbox worker stepped every call's code in one task: bob's call was given
        # the session (here, the secret) alice's call had kept for its task.
        kept = call(alice, action="keep_per_task", keep={"secret": "alice's"})
        assert kept == {"kept_before": {}}
        assert call(bob, action="keep_per_task") == {"kept_before": {}}


def test_a_call_raising_system_exit_fails_alone(serve, tmp_path: Path) -> None:
    live = serve(_plugins(tmp_path))
    with live.client("alice") as alice, live.client("bob") as bob:
        process = call(bob, action="process")
        assert alice.post("/api/execute/asyncio_user", json={"action": "exit"}).status_code == 500
        assert call(bob, action="sleep") == {"slept": True}
        # It is the call's error, as in-process: the sandbox worker serving it goes on.
        assert call(bob, action="process") == process
