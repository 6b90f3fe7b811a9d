"""`EchoGuard`: what keeps a keyspace source from mirroring a remote invalidation back."""

from __future__ import annotations

import time

from cachesync_cli.local.base import EchoGuard


def test_only_watched_namespaces_are_remembered():
    guard = EchoGuard()
    guard.watch("redis://h:6379/1")
    guard.note("redis://h:6379/1", ["a", "b"])
    guard.note("redis://h:6379/2", ["a"])  # no keyspace source reads db 2: nothing kept
    assert guard.is_echo("redis://h:6379/1", "a")
    assert not guard.is_echo("redis://h:6379/1", "a")  # one delete, one echo
    assert not guard.is_echo("redis://h:6379/2", "a")
    assert len(guard._until) == 1  # "b" still waits for its echo


def test_entries_expire_and_are_forgotten_in_the_order_noted():
    guard = EchoGuard(window=0.2)
    guard.watch("ns")
    guard.note("ns", ["old-1", "old-2", "again"])
    time.sleep(0.1)
    guard.note("ns", ["again"])  # noted again: its window starts over
    time.sleep(0.15)
    guard.note("ns", ["new"])  # the first batch is past its window now
    assert list(key for _, key in guard._until) == ["again", "new"]
    assert guard.is_echo("ns", "again") and not guard.is_echo("ns", "old-1")
