"""What the publishing thread (`Outgoing`) is handed and hands around.

Other threads queue an `AckRequest` (the applying thread), a `GapNotice` (a source, through
`Intake`), a `Refusal` (intake refused a local message that has a receipt) or the `FAILED`
wake-up (the transport's thread, when a message in flight failed). A round's items become
`Batch`es (one per tenant), carried by numbered `Outbound` messages; a batch's `Receipts`
tell the durable sources what became of their messages.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from cachesync_cli.local.intake import IntakeGap
from cachesync_cli.publisher import PreparedMessage
from cachesync_cli.transport.base import Transport
from cachesync_cli.wire import Item, Tenant

log = logging.getLogger("cachesync.bridge.outgoing")


@dataclass(frozen=True)
class AckRequest:
    """Queued by the incoming thread: publish an `ack` of this message id."""

    ack_of: str


@dataclass(frozen=True)
class GapNotice:
    """Queued by a source's thread: announce this intake gap on a heartbeat."""

    gap: IntakeGap


@dataclass(frozen=True)
class Refusal:
    """Queued by `refuse`: a local message the bridge refused at intake, to be told so."""

    receipt: Callable[[str], None]


FAILED = object()
"""Queued when a message in flight failed (refused, connection lost): wakes the thread."""


class Receipts:
    """The receipts of one batch's local messages: told once, by the first outcome."""

    __slots__ = ("pending",)

    def __init__(self, pending: list[Callable[[str], None]]) -> None:
        self.pending = pending

    def __call__(self, status: str) -> None:
        pending, self.pending = self.pending, []
        for receipt in pending:
            try:
                receipt(status)
            except Exception:  # a source's bug must not stop publishing
                log.exception("a local message's receipt failed")


class Batch:
    """One round's items for one tenant; `row` is their spool row once they had to wait
    (None while they are only in memory), removed when every message of the batch is confirmed."""

    __slots__ = ("tenant", "items", "row", "unconfirmed", "receipts", "since")

    def __init__(self, tenant: Tenant | None, items: tuple[Item, ...], row: int | None = None,
                 receipts: Receipts | None = None, since: float | None = None) -> None:
        self.tenant, self.items, self.row = tenant, items, row
        self.unconfirmed = 0
        self.receipts = receipts  # of the local messages it carries that have one
        self.since = time.time() if since is None else since  # when its items were taken in


@dataclass
class Outbound:
    """A numbered message on its way: waiting to be sent again, or sent and not confirmed."""

    message: PreparedMessage
    batch: Batch | None  # None for heartbeats and acks: nothing to spool
    confirmed: Future[None] | None = None  # while in flight
    deadline: float = 0.0  # in flight: when the confirm is overdue
    transport: Transport | None = None  # in flight: the connection it was sent on
