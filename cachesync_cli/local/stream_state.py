"""What Redis says about a stream and a consumer group (XINFO STREAM, XINFO GROUPS), and
the losses it shows: entries trimmed before the group read them, ids that went back.

Redis 7 counts, for a group, the entries it has read (`entries-read`) and so its `lag`
(entries added to the stream minus entries read; None when entries were removed with
XDEL ahead of the group, which makes it unknowable). When every entry in the stream is
still unread (the stream's first entry is after the group's last delivered one, or the
stream is empty), the lag exceeds the stream's length by the number of entries that were
trimmed unread. Redis keeps counting those as unread, so after announcing them the group's
counter is corrected (`XGROUP SETID ... ENTRIESREAD`), or they would be counted again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


class StreamId(NamedTuple):
    """A stream entry id, ordered: milliseconds and sequence."""

    ms: int
    seq: int

    def __str__(self) -> str:
        return f"{self.ms}-{self.seq}"


def parse_id(raw: bytes | str) -> StreamId:
    text = raw.decode() if isinstance(raw, bytes) else raw
    ms, _, seq = text.partition("-")
    return StreamId(int(ms), int(seq or 0))


@dataclass(frozen=True)
class StreamState:
    last: StreamId  # the stream's last generated id
    first: StreamId | None  # its first entry's id; None when empty
    length: int
    delivered: StreamId  # the group's last delivered id
    lag: int | None
    entries_read: int | None

    @classmethod
    def from_xinfo(cls, stream: dict, group: dict) -> StreamState:
        """From redis-py's parsed XINFO STREAM and one group's XINFO GROUPS entry."""
        first = stream.get("first-entry")
        return cls(last=parse_id(stream["last-generated-id"]), first=parse_id(first[0]) if first else None,
                   length=stream["length"], delivered=parse_id(group["last-delivered-id"]),
                   lag=group.get("lag"), entries_read=group.get("entries-read"))

    @property
    def ahead_of_stream(self) -> bool:
        """The group was delivered an id the stream never generated: the stream went back (a
        replica that was behind). New entries may get ids below it and never be read."""
        return self.delivered > self.last

    def trimmed_unread(self) -> int:
        """How many entries were deleted before the group read them (0 when none, or when
        Redis cannot tell)."""
        if self.lag is None or self.entries_read is None:
            return 0
        if self.first is not None and self.first <= self.delivered:
            return 0  # trimming takes the oldest first: the unread ones are all still there
        return max(0, self.lag - self.length)
