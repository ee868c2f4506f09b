"""Frames cut from what a socket delivers: one read may hold several, or part of one."""

import struct

import bson
import pytest

from tessera.sandbox.frames import FrameBuffer, FrameError


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
