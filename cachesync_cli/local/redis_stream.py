"""Local messages from a Redis stream: nothing is lost while the bridge is away.

Applications `XADD` a WIRE.md §4 message to `stream` (default `cachesync:invalidations`)
under `field` (default `m`):

    XADD cachesync:invalidations * m '{"cache":"OAuthCache","keys":["tok-42"]}'

The bridge reads with a consumer group (`group`, default: the cluster id; created at id 0
when missing) as consumer `consumer` (default: the host name, so that a restarted bridge
is the same consumer and finds the entries it had read). An entry is acknowledged (`XACK`,
in batches, by this source's thread) only once the bridge's receipt says its
invalidations are confirmed by the broker or in the spool (or filtered, or rejected).
On (re)connecting, the consumer first reads its own pending entries (id 0) again; every
`MAINTENANCE_INTERVAL` it takes over entries another consumer of the group left pending
for `claim_idle` seconds (`XAUTOCLAIM`: a bridge that died on another host), and trims the
stream (`XTRIM MINID ~`) below what every group still needs: its oldest pending entry, or
its last delivered one. `max_length` caps the stream (`XTRIM MAXLEN ~`) even when that
trims entries nobody read: those are lost, and announced.

Announced as intake gaps (`context.intake`): "trimmed", entries deleted before the group
read them (checked in one transaction with every read, see `stream_state.py`; pending
entries found deleted count too); "failover", the stream or the group vanished while this
process read it, or the group's last delivered id is ahead of the stream's last id or went
back (a replica that was behind, a restore): the group is created again, or moved to the
stream's end, and reading goes on.

Entries without `field` or that do not parse are rejected (reason counted) and
acknowledged; one carrying `origin` (a bridge's re-broadcast) is acknowledged silently.
While Redis is unreachable the source reports `intake.down` and retries with backoff
(0.5 s doubling to 10 s); the stream keeps what applications add meanwhile.
"""

from __future__ import annotations

import functools
import logging
import queue
import socket
import threading
import time

from cachesync_cli.errors import DecodeError
from cachesync_cli.local.base import EmitFn, RejectFn, Source, SourceError
from cachesync_cli.local.intake import IntakeGap
from cachesync_cli.local.redis_common import RECONNECT, open_redis, redis_errors, redis_safe_url
from cachesync_cli.local.stream_state import StreamId, StreamState, parse_id
from cachesync_cli.wire.local import LocalMessage, parse_local_message

log = logging.getLogger("cachesync.local")

BLOCK_MS = 200  # a read waits this long for new entries, then acknowledges what was confirmed
MAINTENANCE_INTERVAL = 5.0  # seconds between takeovers of abandoned entries and trims
START_WAIT = 15.0
STOP_WAIT = 5.0  # seconds `stop` waits for the receipts of what was handed on
MAX_AWAITING = 50_000  # entries handed on and not acknowledged past which reading pauses (+ one read)


class RedisStreamSource(Source):
    type = "redis-stream"
    durable = True  # entries stay in the stream until their receipt: nothing lost over a restart

    def __init__(self, name, options, context) -> None:
        super().__init__(name, options, context)
        self.url = options["url"]
        self.stream = options["stream"]
        self.field = options["field"].encode("utf-8")
        self.group = options["group"] or context.cluster
        self.consumer = options["consumer"] or socket.gethostname()
        self.count = options["count"]
        self.max_length = options["max_length"]
        self.claim_idle_ms = int(options["claim_idle"] * 1000)
        self.client = None
        self._emit: EmitFn | None = None
        self._reject: RejectFn | None = None
        self._acks: queue.SimpleQueue[bytes] = queue.SimpleQueue()  # filled by receipts
        self._awaiting: set[bytes] = set()  # handed on, not acknowledged yet (this source's thread only)
        self._known = False  # the group was seen by this process: its loss is a failover
        self._last_read: StreamId | None = None  # the highest id this process read as new
        self._next_maintenance = 0.0
        self._stopping = threading.Event()
        self._started = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, emit: EmitFn, reject: RejectFn) -> None:
        if self._thread is not None:
            raise SourceError(f"{self.describe()}: already started")
        self._emit, self._reject = emit, reject
        self.client = open_redis(self.url, what=self.describe(), error=SourceError,
                                 client_name=f"cachesync-{self.context.cluster}-{self.name}")
        self._thread = threading.Thread(target=self._run, name=f"cachesync-{self.describe()}", daemon=True)
        self._thread.start()
        self._started.wait(START_WAIT)

    def stop(self) -> None:
        """Stop reading; wait (at most `STOP_WAIT`) for the receipts of what was handed on and
        acknowledge it. What is still unacknowledged is read again by the next start."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        if self.client is not None:
            self.client.close()

    def check(self) -> None:
        client = open_redis(self.url, what=self.describe(), error=SourceError)
        try:
            self._require_redis_7(client)
        except redis_errors() as exc:
            raise SourceError(f"{self.describe()}: Redis {redis_safe_url(self.url)} unreachable: {exc}") from None
        finally:
            client.close()

    def _run(self) -> None:
        errors = redis_errors()
        failures, connected, in_outage = 0, False, False
        while not self._stopping.is_set():
            try:
                if not connected:
                    self._connect()
                    connected = True
                    self.context.intake.up(self.name, gap=False)
                    if in_outage:
                        log.warning("%s: Redis %s is back, reading %s again", self.describe(),
                                    redis_safe_url(self.url), self.stream)
                    in_outage, failures = False, 0
                    self._started.set()
                self._round()
            except (*errors, SourceError) as exc:
                connected = False
                self._started.set()
                if isinstance(exc, SourceError):
                    detail = str(exc)
                elif type(exc).__name__ == "ResponseError":
                    detail = f"Redis {redis_safe_url(self.url)} refused a command on {self.stream}: {exc}"
                else:
                    detail = f"Redis {redis_safe_url(self.url)} unreachable: {exc}"
                self.context.intake.down(self.name, detail)
                if not in_outage:
                    log.warning("%s: %s; retrying with backoff (the stream keeps what is added meanwhile)",
                                self.describe(), detail)
                    in_outage = True
                self._stopping.wait(RECONNECT.delay(failures))
                failures += 1
            except Exception:  # a bug must not end reading silently
                log.exception("%s: unexpected error", self.describe())
                connected = False
                self._started.set()
                self._stopping.wait(RECONNECT.base)
        self._finish(errors)

    def _finish(self, errors) -> None:
        deadline = time.monotonic() + STOP_WAIT
        try:
            while True:
                self._flush_acks()
                if not self._awaiting or time.monotonic() >= deadline:
                    break
                time.sleep(0.05)
        except errors as exc:
            log.warning("%s: cannot acknowledge while stopping (%s); those entries are read again at the "
                        "next start", self.describe(), exc)
        if self._awaiting:
            log.warning("%s: %d entries not yet confirmed at stop; they are read again at the next start",
                        self.describe(), len(self._awaiting))

    # -- reading ------------------------------------------------------------------------------

    def _connect(self) -> None:
        """Make sure the group exists, then hand on this consumer's own pending entries."""
        self._require_redis_7(self.client)
        groups = self._groups_or_none()
        if groups is None or self._group_of(groups) is None:
            self._create_group("the stream or its consumer group is missing")
        self._known = True
        self._read_pending()

    def _round(self) -> None:
        self._flush_acks()
        if time.monotonic() >= self._next_maintenance:
            self._maintain()
            self._next_maintenance = time.monotonic() + MAINTENANCE_INTERVAL
        if len(self._awaiting) >= MAX_AWAITING:  # the bridge is behind: leave the rest in the stream
            self._stopping.wait(BLOCK_MS / 1000)
            return
        entries = self._checked_read()
        if not entries and not self._stopping.is_set():
            reply = self.client.xreadgroup(self.group, self.consumer, {self.stream: ">"}, count=self.count,
                                           block=BLOCK_MS)
            entries = reply[0][1] if reply else []
        self._hand_on(entries, new=True)

    def _checked_read(self) -> list:
        """Read new entries, with the stream's and the group's state just before, in one
        transaction: losses (trimmed, failover) are seen before the read moves past them."""
        pipe = self.client.pipeline(transaction=True)
        pipe.xinfo_stream(self.stream)
        pipe.xinfo_groups(self.stream)
        pipe.xreadgroup(self.group, self.consumer, {self.stream: ">"}, count=self.count)
        stream, groups, reply = pipe.execute(raise_on_error=False)
        group = None if isinstance(groups, Exception) else self._group_of(groups)
        if isinstance(stream, Exception) or group is None:
            self._create_group("the stream or its consumer group disappeared")
            return []
        if isinstance(reply, Exception):
            raise reply
        entries = reply[0][1] if reply else []
        self._check_losses(stream, group, entries)
        return entries

    def _check_losses(self, stream: dict, group: dict, entries: list) -> None:
        state = StreamState.from_xinfo(stream, group)
        if state.ahead_of_stream or (self._last_read is not None and state.delivered < self._last_read):
            self._failover(f"the group's last delivered id is {state.delivered}, the stream's last id "
                           f"{state.last}, and this bridge had read up to {self._last_read}", since=state.last)
            return
        lost = state.trimmed_unread()
        if lost:
            read_to = entries[-1][0] if entries else group["last-delivered-id"]
            self.client.xgroup_setid(self.stream, self.group, read_to,
                                     entries_read=state.entries_read + len(entries) + lost)
            self._gap("trimmed", f"{lost} entries of {self.stream} were trimmed before group {self.group!r} "
                                 f"read them (after {state.delivered})", since=state.delivered)

    def _read_pending(self) -> None:
        """This consumer's own pending entries (read before a restart or an outage, not
        acknowledged), except those handed on and awaiting their receipt."""
        start = "0"
        while not self._stopping.is_set():
            reply = self.client.xreadgroup(self.group, self.consumer, {self.stream: start}, count=self.count)
            entries = reply[0][1] if reply else []
            if not entries:
                return
            self._hand_on(entries, new=False)
            start = entries[-1][0]

    def _maintain(self) -> None:
        """Take over entries other consumers left pending; trim what every group is done with."""
        _, claimed, deleted = self.client.xautoclaim(self.stream, self.group, self.consumer, self.claim_idle_ms,
                                                     "0-0", count=self.count)
        lost = [entry_id for entry_id in deleted if entry_id not in self._awaiting]  # those are on their way
        if lost:
            self._gap("trimmed", f"{len(lost)} pending entries of {self.stream} were deleted before "
                                 f"they were published", since=parse_id(lost[0]))
        if claimed:
            log.warning("%s: took over %d entries left pending for %ds by another consumer of group %r",
                        self.describe(), len(claimed), self.claim_idle_ms // 1000, self.group)
            self._hand_on(claimed, new=False)
        floor = None
        for group in self.client.xinfo_groups(self.stream):
            needed = group["last-delivered-id"]
            if group["pending"]:
                needed = self.client.xpending(self.stream, group["name"])["min"] or needed
            floor = needed if floor is None or parse_id(needed) < parse_id(floor) else floor
        pipe = self.client.pipeline(transaction=False)
        if floor is not None:
            pipe.xtrim(self.stream, minid=floor, approximate=True)
        pipe.xtrim(self.stream, maxlen=self.max_length, approximate=True)
        pipe.execute()

    # -- handing on and acknowledging ---------------------------------------------------------

    def _hand_on(self, entries: list, *, new: bool) -> None:
        if new and entries:
            self._last_read = parse_id(entries[-1][0])
        for entry_id, fields in entries:
            if entry_id in self._awaiting:
                continue
            if not fields:  # a pending entry deleted from the stream meanwhile
                self._gap("trimmed", f"pending entry {entry_id.decode()} of {self.stream} was deleted before "
                                     f"it was published", since=parse_id(entry_id))
                self._acks.put(entry_id)
                continue
            data = fields.get(self.field)
            try:
                if data is None:
                    raise DecodeError(f"no field {self.field.decode()!r} (XADD {self.stream} * "
                                      f"{self.field.decode()} '<json>')", reason="invalid")
                local = parse_local_message(data)
            except DecodeError as exc:
                self._reject(exc.reason, f"{self.stream} entry {entry_id.decode()}: {exc}")
                self._acks.put(entry_id)
                continue
            if local.origin is not None:  # a bridge's re-broadcast: not ours to publish
                self._acks.put(entry_id)
                continue
            self._awaiting.add(entry_id)
            self._emit(LocalMessage(local.items, local.tenant,
                                    receipt=functools.partial(self._receipt, entry_id)))

    def _receipt(self, entry_id: bytes, status: str) -> None:
        """Runs on the bridge's publishing thread: only queue."""
        self._acks.put(entry_id)

    def _flush_acks(self) -> None:
        ids = []
        try:
            while True:
                ids.append(self._acks.get_nowait())
        except queue.Empty:
            pass
        if not ids:
            return
        try:
            self.client.xack(self.stream, self.group, *ids)
        except BaseException:
            for entry_id in ids:  # acknowledged after reconnecting
                self._acks.put(entry_id)
            raise
        self._awaiting.difference_update(ids)

    # -- losses -------------------------------------------------------------------------------

    def _create_group(self, why: str) -> None:
        from redis import ResponseError

        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True, entries_read=0)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):  # another bridge of the cluster created it meanwhile
                raise
        if self._known:
            self._failover(f"{why}; group {self.group!r} created again at the stream's start", since=None)
        self._known = True

    def _failover(self, detail: str, since: StreamId | None) -> None:
        info = self.client.xinfo_stream(self.stream)
        group = self._group_of(self.client.xinfo_groups(self.stream))
        if group is not None and parse_id(group["last-delivered-id"]) > parse_id(info["last-generated-id"]):
            # new entries would get ids below it and never be read: read from the stream's end
            self.client.xgroup_setid(self.stream, self.group, "$", entries_read=info["entries-added"])
        self._last_read = None
        self._gap("failover", detail, since=since)

    def _gap(self, reason: str, detail: str, since: StreamId | None) -> None:
        log.error("%s: local invalidations lost (%s): %s", self.describe(), reason, detail)
        since_ms = since.ms if since is not None and since.ms else None
        self.context.intake.gap(IntakeGap(self.name, reason, since_ms, detail))

    def _require_redis_7(self, client) -> None:
        """Losses are told from the group's lag and entries-read, and the group is created
        with ENTRIESREAD: Redis 7.0 or later."""
        version = client.info("server").get("redis_version", "0")
        if int(str(version).split(".")[0]) < 7:
            raise SourceError(f"{self.describe()}: Redis {redis_safe_url(self.url)} is version {version}; "
                              "the redis-stream source needs Redis 7.0 or later",
                              hint="upgrade Redis, or use the redis-channel or http source")

    def _groups_or_none(self) -> list | None:
        from redis import ResponseError

        try:
            return self.client.xinfo_groups(self.stream)
        except ResponseError:  # no such key
            return None

    def _group_of(self, groups: list) -> dict | None:
        name = self.group.encode("utf-8")
        return next((g for g in groups if g["name"] == name), None)
