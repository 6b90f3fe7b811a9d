"""Hostile input the fuzzers of test_decoder_robustness.py are unlikely to build: Java
streams nested thousands deep, lengths that claim gigabytes, references that multiply a
value, and every decoder held to a time and a memory budget per input (size limits are
checked before parsing, so a hostile message costs at most about its own size)."""

from __future__ import annotations

import base64
import json
import struct
import time
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cachesync_cli.errors import DecodeError
from cachesync_cli.wire.codec import decode_message
from cachesync_cli.wire.javaser import STREAM_HEADER, describe, read_object

TIME_BUDGET = 2.0  # CPU seconds per input (the slowest, a million TC_RESETs in 1 MiB, takes about 0.6 s)
MEMORY_FACTOR = 20  # peak allocation at most this many times the input, plus 1 MiB

OBJECT_ARRAY_DESC = b"\x72\x00\x13[Ljava.lang.Object;\x90\xceX\x9f\x10s)l\x02\x00\x00\x78\x70"


def nested_arrays(depth: int) -> bytes:
    """Object[]{Object[]{Object[]{...}}}: the class descriptor once, then references to it."""
    body = b"\x75" + OBJECT_ARRAY_DESC + b"\x00\x00\x00\x01"
    for _ in range(depth - 1):
        body += b"\x75\x71" + struct.pack(">i", 0x7E0000) + b"\x00\x00\x00\x01"
    return STREAM_HEADER + body + b"\x70"


def amplified(width: int) -> bytes:
    """An array of `width` references to one array of `width` strings: a reader that copied
    references would hold width² values."""
    inner = b"\x75\x71" + struct.pack(">i", 0x7E0000) + struct.pack(">i", width) + b"\x74\x00\x01x" * width
    return STREAM_HEADER + b"\x75" + OBJECT_ARRAY_DESC + struct.pack(">i", width) + inner + (
        b"\x71" + struct.pack(">i", 0x7E0002)) * (width - 1)


HOSTILE_STREAMS = {
    "nested 10,000 deep": nested_arrays(10_000),
    "nested 65 deep": nested_arrays(65),
    "long string claiming 2^63 bytes": STREAM_HEADER + b"\x7c" + struct.pack(">Q", 2**63 - 1) + b"abc",
    "string claiming 65535 bytes": STREAM_HEADER + b"\x74\xff\xff" + b"a" * 10,
    "array claiming 2^31-1 ints": STREAM_HEADER + b"\x75\x72\x00\x02[I" + b"\x00" * 8 + b"\x02\x00\x00\x78\x70"
    + struct.pack(">i", 2**31 - 1),
    "array claiming 2^31-1 objects": STREAM_HEADER + b"\x75" + OBJECT_ARRAY_DESC + struct.pack(">i", 2**31 - 1),
    "block data claiming 2^31-1 bytes": STREAM_HEADER + b"\x73\x72\x00\x01A" + b"\x00" * 8 + b"\x03\x00\x00"
    + b"\x7a" + struct.pack(">i", 2**31 - 1),
    "proxy with 65535 interfaces": STREAM_HEADER + b"\x73\x7d" + struct.pack(">i", 65535) + b"\x00\x01a" * 10,
    "references amplified 300 x 300": amplified(300),
    "a million resets": STREAM_HEADER + b"\x79" * 1_000_000 + b"\x70",
    "one byte over the limit": STREAM_HEADER + b"\x74" + b"\x00" * (1024 * 1024),
}


def bounded(decode, data: bytes):
    """Run `decode(data)` under the time budget, then again under tracemalloc for the
    memory budget (tracing slows Python down many times); DecodeError or a value. The time is
    this thread's CPU time, not the wall clock: a decoder that blows up (quadratic work on a
    hostile input) exceeds it many times over, and a busy machine does not."""
    def run():
        try:
            value = decode(data)
        except DecodeError:
            return None
        assert len(describe(value)) <= 2000
        return value

    started = time.thread_time()
    value = run()
    elapsed = time.thread_time() - started
    assert elapsed < TIME_BUDGET, f"took {elapsed:.2f}s of CPU"
    tracemalloc.start()
    try:
        run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_FACTOR * len(data) + 1024 * 1024, f"peak {peak} bytes for {len(data)} bytes of input"
    return value


@pytest.mark.parametrize("name", list(HOSTILE_STREAMS))
def test_hostile_java_streams_are_bounded(name):
    data = HOSTILE_STREAMS[name]
    bounded(read_object, data)
    body = json.dumps({"tenantDomain": "t", "tenantId": 1, "cacheManagerName": "M", "cacheName": "C",
                       "cacheKeyBase64": base64.b64encode(data).decode()}).encode()
    bounded(lambda b: decode_message(b, {}), body)


def test_deep_nesting_is_refused_and_shallow_nesting_read():
    with pytest.raises(DecodeError, match="nested deeper"):
        read_object(nested_arrays(65))
    assert describe(read_object(nested_arrays(10))).startswith("Object[1]{Object[1]{")


def test_oversized_messages_are_refused_before_parsing():
    body = b'{"v":1,"x":"' + b"a" * (1024 * 1024) + b'"}'
    tracemalloc.start()
    try:
        with pytest.raises(DecodeError) as caught:
            decode_message(body, {})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.reason == "oversized"
    assert peak < 64 * 1024  # the body was never parsed or copied


@settings(max_examples=200, deadline=None)  # bounded() times each input itself
@given(st.binary(max_size=4096), st.sampled_from([b"", STREAM_HEADER, STREAM_HEADER + b"\x75" + OBJECT_ARRAY_DESC]))
def test_random_streams_within_time_and_memory(data, prefix):
    bounded(read_object, prefix + data)
    bounded(lambda b: decode_message(b, {}), prefix + data)
