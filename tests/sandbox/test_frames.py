"""Frames cut from what a socket delivers: one read may hold several, or part of one."""

import struct

import bson
import pytest

from tessera.sandbox.frames import MAX_FRAME_VALUES, FrameBuffer, FrameError


def test_frames_are_cut_in_order_whatever_the_reads_hold():
    first, second = bson.encode({"a": 1}), bson.encode({"b": "two", "c": [1, 2]})
    buffer = FrameBuffer()
    buffer.data += first + second[:3]
    assert buffer.pop() == first
    assert buffer.pop() is None
    assert buffer.missing() == 1  # three of the length's four bytes
    buffer.data += second[3:10]
    assert buffer.missing() == len(second) - 10
    assert buffer.pop() is None
    buffer.data += second[10:]
    assert buffer.missing() == 0
    assert buffer.pop() == second
    assert buffer.pop() is None
    assert buffer.data == bytearray()


@pytest.mark.parametrize("length", [-1, 0, 4, 1025, 2**31 - 1])
def test_a_length_out_of_bounds_is_refused_before_the_frame_arrives(length):
    buffer = FrameBuffer(limit=1024)
    buffer.data += struct.pack("<i", length) + b"\x01"
    with pytest.raises(FrameError, match="refused"):
        buffer.missing()
    with pytest.raises(FrameError, match="refused"):
        buffer.pop()


def test_a_calls_end_may_hold_many_plain_values_but_few_dear_to_decode() -> None:
    """A result of many JSON values crosses whole; one of more than MAX_FRAME_VALUES code
    values, regular expressions or DBRefs (a Python call each to decode) is refused, as
    is one of more values than a worker's frame could hold, which the check would walk."""
    from bson import Code, DBRef, Regex

    from tessera.sandbox.frames import MAX_END_VALUES, end_within

    many = MAX_FRAME_VALUES + 1
    assert end_within(bson.encode({"done": 1, "result": {"v": [0] * 1_100_000}}))
    assert end_within(bson.encode({"done": 1, "result": {"v": list(range(200_000))}}))
    assert end_within(bson.encode({"done": 1, "result": {"v": [Code("x")] * (many - 1)}}))
    for dear in (Code("x"), Regex("x"), DBRef("c", 1)):
        assert not end_within(bson.encode({"done": 1, "result": {"v": [dear] * many}}))
    # Plain values whose bytes look like dear kinds (0x0d in every string) are walked.
    assert end_within(bson.encode({"done": 1, "result": {"v": ["\r"] * many}}))
    carriage_returns = b"\r" * many
    text = b"\x02\x00" + struct.pack("<i", many + 1) + carriage_returns + b"\x00"
    nulls = b"\x0a\x00" * (MAX_END_VALUES + 1) + text  # 2 bytes each, under empty names
    array = struct.pack("<i", len(nulls) + 5) + nulls + b"\x00"
    body = b"\x10done\x00\x01\x00\x00\x00\x04v\x00" + array
    assert not end_within(struct.pack("<i", len(body) + 5) + body + b"\x00")
