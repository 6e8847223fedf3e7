"""Trace ids the gateway makes up: RFC 9562 version-7 UUIDs that carry the arrival time."""

from __future__ import annotations

import time
import uuid

import pytest

from proxy.traceids import new_trace_id, trace_time_us


def test_a_made_up_trace_id_is_a_uuid7_carrying_the_microsecond():
    now = time.time_ns()
    tid = new_trace_id(now)
    u = uuid.UUID(tid)
    assert str(u) == tid and u.version == 7 and u.variant == uuid.RFC_4122
    assert trace_time_us(tid) == now // 1000
    assert (u.int >> 80) == now // 1_000_000  # the standard's millisecond field


def test_ids_differ_and_sort_by_time():
    ids = [new_trace_id(1_800_000_000_000_000_000 + i * 1000) for i in range(200)]
    assert len(set(ids)) == 200
    assert sorted(ids) == ids
    assert trace_time_us(new_trace_id()) == pytest.approx(time.time_ns() // 1000, abs=2_000_000)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "t1",
        "4f1c2b3a-9d8e-4f7a-8b6c-5d4e3f2a1b0c",  # a v4 UUID: no time in it
        "0190163d869473ebaea5966c26f8ad91abcd",  # no dashes
        "0190163d-8694-7_eb-aea5-966c26f8ad91",  # not hex
        "0190163d-8694-73eb-aea5-966c26f8ad9g",
    ],
)
def test_anything_else_carries_no_time(text):
    assert trace_time_us(text) is None


def test_an_upper_case_uuid7_still_parses():
    tid = new_trace_id(1_800_000_000_123_456_000)
    assert trace_time_us(tid.upper()) == 1_800_000_000_123_456


def test_a_forked_worker_makes_ids_of_its_own():
    """Random bytes are read ahead; a forked worker must not reuse the parent's."""
    import os

    new_trace_id()  # the parent now holds random bytes in store
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, to the parent, then out without cleanup
        os.write(write, new_trace_id(0).encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert child != new_trace_id(0)  # same time, so only the random bits can differ
