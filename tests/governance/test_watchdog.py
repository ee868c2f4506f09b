"""The event-loop watchdog on a real loop: what it blames for a block."""

from __future__ import annotations

import asyncio
import gc
import time

from tessera.governance.watchdog import LoopWatchdog, describe_block

THRESHOLD = 0.01


class Tracked:
    """The smallest object the garbage collector follows."""

    __slots__ = ()


async def watched(block) -> tuple[list[tuple[str, str, float, float]], float]:
    """The blocks a watchdog reports while ``block()`` runs on the loop, and how long it ran."""
    blocks: list[tuple[str, str, float, float]] = []
    callbacks = len(gc.callbacks)
    watchdog = LoopWatchdog(THRESHOLD, lambda *report: blocks.append(report))
    await watchdog.start()
    try:
        await asyncio.sleep(THRESHOLD * 2)
        blocks.clear()  # only what the block causes
        started = time.perf_counter()
        block()
        took = time.perf_counter() - started
        await asyncio.sleep(THRESHOLD * 5)  # the watchdog thread looks
    finally:
        await watchdog.stop()
    assert len(gc.callbacks) == callbacks  # stop took its callback away
    return blocks, took


def full_then_young_collection() -> None:
    gc.collect()
    gc.collect(0)  # a short one after the long one must not hide it


async def test_a_full_garbage_collection_is_reported_as_such():
    hoard = [Tracked() for _ in range(3_000_000)]  # enough to make a collection long
    try:
        blocks, took = await watched(full_then_young_collection)
    finally:
        del hoard
    assert took > THRESHOLD
    assert any(
        plugin == "-" and collecting >= seconds / 2 for plugin, _, seconds, collecting in blocks
    ), blocks


async def test_a_block_without_a_collection_is_not_blamed_on_the_collector():
    gc.disable()  # nothing collects while the loop sleeps
    try:
        blocks, took = await watched(lambda: time.sleep(THRESHOLD * 4))
    finally:
        gc.enable()
    assert took > THRESHOLD
    assert blocks
    assert all(collecting == 0.0 for *_, collecting in blocks)


def test_the_log_line_blames_the_collector_only_for_most_of_a_block():
    assert "by plugin blocker (action 'crunch')" in describe_block("blocker", "crunch", 0.8, 0.1)
    collector = describe_block("-", "", 0.6, 0.5)
    assert "0.50s of it by a garbage collection" in collector
    assert "plugin" not in collector.replace("no plugin", "")


def test_a_block_with_no_plugin_on_the_stack_names_no_plugin():
    line = describe_block("-", "", 0.6, 0.0)
    assert "no plugin running when checked" in line
    assert "by plugin" not in line
