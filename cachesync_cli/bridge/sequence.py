"""Seeing what was missed: sequence numbers per node, and message ids already applied.

Every node numbers its messages 1, 2, 3... (WIRE.md §2). A receiver that sees a number
skipped, or a heartbeat ahead of the last message that arrived, knows it missed
something it can never get back: the bridge then flushes (see `Incoming`). The first
message from a node it has not heard before sets the baseline.
"""

from __future__ import annotations

import threading
from collections import OrderedDict


class SequenceTracker:
    def __init__(self) -> None:
        self._last: dict[str, int] = {}
        self._lock = threading.Lock()

    def observe(self, node: str, seq: int) -> int:
        """Record `seq` from `node`; return how many messages were skipped before it (0: none).
        An old or repeated number (a redelivery) is not a gap and does not move the mark."""
        with self._lock:
            last = self._last.get(node)
            if last is None or seq > last:
                self._last[node] = seq
            if last is None or seq <= last:
                return 0
            return seq - last - 1

    def last(self, node: str) -> int | None:
        with self._lock:
            return self._last.get(node)


class RecentIds:
    """The last `size` ids noted, the least recently noted forgotten first: the ids of the
    messages applied (to drop duplicates, at-least-once delivery), the node ids of a
    cluster's bridges."""

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def seen(self, message_id: str) -> bool:
        with self._lock:
            return message_id in self._ids

    def add(self, message_id: str) -> None:
        with self._lock:
            self._ids[message_id] = None
            self._ids.move_to_end(message_id)
            if len(self._ids) > self.size:
                self._ids.popitem(last=False)
