"""`Publisher`: turns invalidation items into broker messages and sends them.

In the native codec, items are packed into `cachesync/1` envelopes under a size limit,
numbered by a per-process `seq` (so receivers see gaps), and signed when a signing key is
configured. In the wso2 codec, every key becomes one WSO2 TextMessage (WIRE.md §3).
`invalidate` and the bridge both publish through this class.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass

from cachesync_cli.errors import UsageError
from cachesync_cli.transport.connection import BrokerConnection
from cachesync_cli.wire import (
    DEFAULT_MAX_BYTES,
    INVALIDATE,
    Envelope,
    Item,
    Keyring,
    Tenant,
    Wso2Message,
    batch_items,
    encode_envelope,
    encode_wso2,
    new_envelope_id,
    now_ms,
    sign_envelope,
)

JSON_HEADERS = {"content-type": "application/json"}
WSO2_SUPER_TENANT = Tenant("carbon.super", -1234)


def new_node_id(cluster: str) -> str:
    """A node id for this process: `<cluster>/<6 hex>` (WIRE.md §2)."""
    return f"{cluster}/{secrets.token_hex(3)}"


@dataclass(frozen=True)
class PreparedMessage:
    """One broker message ready to publish."""

    body: bytes
    headers: dict[str, str]
    items: int
    keys: int
    envelope: Envelope | None = None


class Publisher:
    def __init__(
        self,
        topic: str,
        *,
        origin: str,
        node: str | None = None,
        codec: str = "native",
        producer: str | None = None,
        keyring: Keyring | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        if codec not in ("native", "wso2"):
            raise UsageError(f"unknown codec {codec!r}", hint="use native or wso2")
        self.topic = topic
        self.origin = origin
        self.node = node or new_node_id(origin)
        self.codec = codec
        self.producer = producer or origin
        self.keyring = keyring if keyring and keyring.signing_key_id else None
        self.max_bytes = max_bytes
        self.last_seq = 0  # the last sequence number handed out
        self._seq_lock = threading.Lock()

    def next_seq(self) -> int:
        with self._seq_lock:
            self.last_seq += 1
            return self.last_seq

    # -- building messages ------------------------------------------------------------------

    def messages(self, items: Iterable[Item], *, tenant: Tenant | None = None,
                 ack: bool = False) -> Iterator[PreparedMessage]:
        """The broker messages that carry `items`, built lazily (bulk input stays streaming)."""
        if self.codec == "wso2":
            yield from self._wso2_messages(items, tenant)
            return
        sig_key_id = self.keyring.signing_key_id if self.keyring else None
        try:
            batches = batch_items(items, origin=self.origin, node=self.node, tenant=tenant, ack=ack,
                                  sig_key_id=sig_key_id, max_bytes=self.max_bytes)
        except ValueError as exc:
            raise UsageError(str(exc), hint="shorten the key or raise the size limit") from None
        for batch in batches:
            yield self.envelope_message(self.build(batch, tenant=tenant, ack=ack))

    def build(self, items: Iterable[Item], *, tenant: Tenant | None = None, ack: bool = False,
              type: str = INVALIDATE, **fields) -> Envelope:
        """A numbered envelope from this node (signed later, by `envelope_message`)."""
        return Envelope(type=type, id=new_envelope_id(), origin=self.origin, node=self.node,
                        seq=self.next_seq(), ts=now_ms(), tenant=tenant, items=tuple(items), ack=ack,
                        **fields)

    def envelope_message(self, envelope: Envelope) -> PreparedMessage:
        if self.keyring is not None:
            envelope = sign_envelope(envelope, self.keyring)
        keys = sum(len(item.keys) for item in envelope.items)
        return PreparedMessage(encode_envelope(envelope), dict(JSON_HEADERS), len(envelope.items), keys, envelope)

    def _wso2_messages(self, items: Iterable[Item], tenant: Tenant | None) -> Iterator[PreparedMessage]:
        tenant = tenant or WSO2_SUPER_TENANT
        tenant_id = tenant.id if tenant.id is not None else WSO2_SUPER_TENANT.id
        for item in items:
            if not item.manager:
                raise UsageError(f"the wso2 codec needs a cache manager name for cache {item.cache!r}",
                                 hint="pass --manager NAME, e.g. IdentityApplicationManagementCacheManager")
            keys: Iterable[str | None] = [None] if item.all else item.keys
            for key in keys:
                message = Wso2Message(tenant_domain=tenant.domain, tenant_id=tenant_id, manager=item.manager,
                                      cache=item.cache, key=key, clear_all=item.all, sender=self.producer)
                body, headers = encode_wso2(message)
                yield PreparedMessage(body, headers, 1, 0 if item.all else 1)

    # -- sending ------------------------------------------------------------------------------

    def publish(self, connection: BrokerConnection, message: PreparedMessage, *, confirm: bool = False,
                timeout: float = 30.0) -> None:
        connection.publish(self.topic, message.body, message.headers, confirm=confirm, timeout=timeout)

    def publish_async(self, connection: BrokerConnection, message: PreparedMessage, *,
                      timeout: float = 30.0) -> Future[None]:
        """Send without waiting: the future is done once the broker confirmed (or did not)."""
        return connection.publish_async(self.topic, message.body, message.headers, timeout=timeout)
