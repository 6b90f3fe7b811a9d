"""`Publisher`: turns invalidation items into broker messages and sends them.

In the native codec, items are packed into `cachesync/1` envelopes under a size limit,
numbered by a per-process `seq` (so receivers see gaps), and signed when a signing key is
configured. In the wso2 codec, every key becomes one WSO2 TextMessage (docs/wire.md §3), in
the 2.1.9+ JSON, the 2.0.x-2.1.8 text (§4), or one of each (`wso2_format`).
`invalidate` and the bridge both publish through this class.

No message may exceed `max_bytes` (receivers reject bigger ones). `fit` says what of some
items can be published: an item with a key too large for any message becomes `all` for
its cache (the other clusters flush that cache: nothing is lost), and an item that cannot
be published even so (a cache, manager or tenant name nearly as large as a message; under
wso2, an item without a cache manager) is refused. Under the legacy WSO2 text, a key the
2.1.8 connector would misread (`}`, a line break) makes its item `all` too, and a manager or
tenant domain it cannot read is refused. `invalidate` raises `UsageError` for
such input; the bridge passes `on_unfit`, and then `messages` publishes the fitted items
and reports what it changed instead of raising: data never stops its publishing thread.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass

from cachesync_cli.errors import UsageError
from cachesync_cli.transport.base import Transport
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
from cachesync_cli.wire.batching import all_item_len, items_budget, one_key_item_len
from cachesync_cli.wire.codec_names import CODEC_NAMES
from cachesync_cli.wire.wso2 import BODY_FORMATS
from cachesync_cli.wire.wso2_legacy import legacy_name_problem, legacy_key_problem

JSON_HEADERS = {"content-type": "application/json"}
WSO2_SUPER_TENANT = Tenant("carbon.super", -1234)
#: Bytes of a message besides its names and key, with room to spare (the widest native
#: skeleton is about 330 bytes, a WSO2 body about 150): below it, `fit` need not measure.
FIXED_OVERHEAD = 1024
#: Most bytes one character of a name or key can take in a message: 6 as a JSON escape
#: (\u0000), 8 in WSO2's base64 of modified UTF-8 (a supplementary character: 6 bytes).
WIDEST_CHAR = 8


def new_node_id(cluster: str) -> str:
    """A node id for this process: `<cluster>/<6 hex>` (WIRE.md §2)."""
    return f"{cluster}/{secrets.token_hex(3)}"


@dataclass(slots=True)  # not frozen: made for every local message, and a frozen one costs 4 times more
class Fit:
    """What of some items can be published (see `Publisher.fit`)."""

    items: tuple[Item, ...]  # to publish: `flushed` in place of the items they replace
    flushed: tuple[Item, ...] = ()  # `all` items standing for items with a key too large for a message
    oversized_keys: int = 0  # keys too large for a message (their caches are in `flushed`)
    refused: tuple[tuple[Item, str], ...] = ()  # (item, "oversized", "no-manager" or "legacy-format"): not sent
    uncarried_keys: int = 0  # keys the legacy WSO2 text cannot carry (their caches are in `flushed`)

    @property
    def changed(self) -> bool:
        return bool(self.flushed or self.refused)


Unfit = Callable[[Fit, "Tenant | None"], None]


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
        wso2_format: str = "json",
        keyring: Keyring | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        on_unfit: Unfit | None = None,
        on_legacy_shortfall: Callable[[str, Item], None] | None = None,
    ) -> None:
        if codec not in CODEC_NAMES:
            raise UsageError(f"unknown codec {codec!r}", hint=f"use {' or '.join(CODEC_NAMES)}")
        if wso2_format not in BODY_FORMATS:
            raise UsageError(f"unknown WSO2 body format {wso2_format!r}", hint=f"use {', '.join(BODY_FORMATS)}")
        self.topic = topic
        self.origin = origin
        self.node = node or new_node_id(origin)
        self.codec = codec
        self.producer = producer or origin
        self.wso2_format = wso2_format
        #: the WSO2 body formats each key is written in, in order
        self._formats = ("json", "legacy") if wso2_format == "both" else (wso2_format,)
        #: only the legacy text is written: what it cannot carry is made to fit (`fit`)
        self._legacy_only = codec == "wso2" and wso2_format == "legacy"
        #: set by the bridge: called when, writing both formats, the legacy copy of a key is a
        #: clear-all of its cache ("clear-all") or is not sent ("omitted", names it cannot carry)
        self.on_legacy_shortfall = on_legacy_shortfall
        self.keyring = keyring if keyring and keyring.signing_key_id else None
        self.max_bytes = max_bytes
        #: set by the bridge: `messages` fits items instead of raising, and reports here what it changed
        self.on_unfit = on_unfit
        fixed = len(self.origin) + len(self.node) + len(self.producer)
        if self.keyring is not None:
            fixed += len(self.keyring.signing_key_id)
        #: characters of names and key that surely fit one message, besides the tenant's
        self._room = (max_bytes - FIXED_OVERHEAD) // WIDEST_CHAR - fixed
        self.last_seq = 0  # the last sequence number handed out
        self._seq_lock = threading.Lock()

    def next_seq(self) -> int:
        with self._seq_lock:
            self.last_seq += 1
            return self.last_seq

    # -- building messages ------------------------------------------------------------------

    def messages(self, items: Iterable[Item], *, tenant: Tenant | None = None,
                 ack: bool = False) -> Iterator[PreparedMessage]:
        """The broker messages that carry `items`, built lazily (bulk input stays streaming).
        Raises `UsageError` for an item `fit` would change, unless `on_unfit` is set."""
        if self.on_unfit is not None:
            fit = self.fit(items, tenant, ack=ack)
            if fit.changed:
                self.on_unfit(fit, tenant)
            items = fit.items
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
        keys = sum(item.key_count for item in envelope.items)
        return PreparedMessage(encode_envelope(envelope), dict(JSON_HEADERS), len(envelope.items), keys, envelope)

    def _wso2_messages(self, items: Iterable[Item], tenant: Tenant | None) -> Iterator[PreparedMessage]:
        for item in items:
            if not item.manager:
                raise UsageError(f"the wso2 codec needs a cache manager name for cache {item.cache!r}",
                                 hint="pass --manager NAME, e.g. IdentityApplicationManagementCacheManager")
            keys: Iterable[str | bytes | None] = [None] if item.all else item.java_keys or item.keys
            legacy_cleared = False
            for key in keys:
                for body_format in self._formats:
                    if body_format == "legacy" and len(self._formats) > 1 and not self._legacy_carries_key(key):
                        # both formats: the JSON carries the key, the legacy text clears its cache (once)
                        if legacy_cleared:
                            continue
                        legacy_cleared, key_shown = True, None
                        self._shortfall("clear-all", item)
                    else:
                        key_shown = key
                    if body_format == "legacy" and len(self._formats) > 1 and self._legacy_name_problem(item, tenant):
                        self._shortfall("omitted", item)
                        continue
                    try:
                        body, headers = self._wso2_encoded(item, key_shown, tenant, body_format)
                    except ValueError as exc:
                        raise UsageError(f"cache {item.cache!r}: {exc}",
                                         hint="send it with --wso2-format json, or --all for that cache") from None
                    if len(body) > self.max_bytes:
                        raise UsageError(f"a key of {item.cache!r} does not fit in {self.max_bytes} bytes",
                                         hint="shorten the key")
                    # a key is counted once, however many formats carry it
                    yield PreparedMessage(body, headers, 1, 1 if body_format == self._formats[0] and key else 0)

    def _shortfall(self, kind: str, item: Item) -> None:
        if self.on_legacy_shortfall is not None:
            self.on_legacy_shortfall(kind, item)

    def _wso2_encoded(self, item: Item, key: str | bytes | None, tenant: Tenant | None,
                      body_format: str = "json") -> tuple[bytes, dict[str, str]]:
        """Body and headers of the WSO2 message invalidating `key` of `item`'s cache (None:
        all; bytes: an object key's serialization stream)."""
        tenant = tenant or WSO2_SUPER_TENANT
        tenant_id = tenant.id if tenant.id is not None else WSO2_SUPER_TENANT.id
        message = Wso2Message(tenant_domain=tenant.domain, tenant_id=tenant_id, manager=item.manager or "",
                              cache=item.cache, key=key if isinstance(key, str) else None, clear_all=key is None,
                              sender=self.producer, key_stream=key if isinstance(key, bytes) else None)
        return encode_wso2(message, body_format)

    # -- what fits in a message ---------------------------------------------------------------

    def fit(self, items: Iterable[Item], tenant: Tenant | None = None, *, ack: bool = False) -> Fit:
        """What of `items` can be published under `tenant`: an item with a key too large for
        a message becomes `all` for its cache; an item that cannot be published even so is
        refused. Never raises. Items of ordinary size cost a length comparison each (under a
        microsecond for a one-key message, on the bridge's intake path)."""
        items = tuple(items)
        room = self._room - (len(tenant.domain) if tenant is not None else 0)
        wso2 = self.codec == "wso2"
        if self._legacy_only and not all(self._legacy_carries(item, tenant) for item in items):
            return self._refit(items, tenant, ack, room)
        for item in items:
            keys = item.keys
            longest = len(keys[0]) if len(keys) == 1 else max(map(len, keys), default=0)
            if (wso2 and not item.manager) or len(item.cache) + len(item.manager or "") + longest > room:
                return self._refit(items, tenant, ack, room)
        return Fit(items)

    def _refit(self, items: tuple[Item, ...], tenant: Tenant | None, ack: bool, room: int) -> Fit:
        """`fit` for items of which one at least may not fit: measure those exactly."""
        kept: list[Item] = []
        flushed: list[Item] = []
        refused: list[tuple[Item, str]] = []
        oversized = uncarried = 0
        for item in items:
            if self.codec == "wso2" and not item.manager:
                refused.append((item, "no-manager"))
                continue
            if self._legacy_only and not self._legacy_carries(item, tenant):
                if self._legacy_name_problem(item, tenant):
                    refused.append((item, "legacy-format"))
                    continue
                uncarried += len(item.keys) + len(item.java_keys)  # some key is not carried: flush the cache
                item = Item(cache=item.cache, all=True, manager=item.manager)
                flushed.append(item)
            names = len(item.cache) + len(item.manager or "")
            if names + max(map(len, item.keys), default=0) <= room:
                kept.append(item)
                continue
            if not self._all_fits(item, tenant, ack):
                refused.append((item, "oversized"))
                continue
            too_large = 0 if item.all else sum(
                1 for key in item.keys if names + len(key) > room and not self._key_fits(item, key, tenant, ack))
            if too_large:
                oversized += too_large
                item = Item(cache=item.cache, all=True, manager=item.manager)
                flushed.append(item)
            kept.append(item)
        return Fit(tuple(kept), tuple(flushed), oversized, tuple(refused), uncarried)

    def _legacy_carries(self, item: Item, tenant: Tenant | None) -> bool:
        """Whether the legacy WSO2 text carries `item` as it is (see `wso2_legacy`)."""
        return not self._legacy_name_problem(item, tenant) and not item.java_keys and \
            all(self._legacy_carries_key(key) for key in item.keys)

    @staticmethod
    def _legacy_carries_key(key: str | bytes | None) -> bool:
        """Object keys print as Class@hash in the legacy text; some strings are misread."""
        return key is None or isinstance(key, str) and not legacy_key_problem(key)

    @staticmethod
    def _legacy_name_problem(item: Item, tenant: Tenant | None) -> str | None:
        return legacy_name_problem(item.manager or "", (tenant or WSO2_SUPER_TENANT).domain, item.cache)

    def _budget(self, tenant: Tenant | None, ack: bool) -> int:
        sig_key_id = self.keyring.signing_key_id if self.keyring else None
        return items_budget(origin=self.origin, node=self.node, tenant=tenant, ack=ack, sig_key_id=sig_key_id,
                            max_bytes=self.max_bytes)

    def _all_fits(self, item: Item, tenant: Tenant | None, ack: bool) -> bool:
        if self.codec == "wso2":
            return len(self._wso2_encoded(item, None, tenant)[0]) <= self.max_bytes
        return all_item_len(item.cache, item.manager) <= self._budget(tenant, ack)

    def _key_fits(self, item: Item, key: str, tenant: Tenant | None, ack: bool) -> bool:
        if self.codec == "wso2":
            return len(self._wso2_encoded(item, key, tenant)[0]) <= self.max_bytes
        return one_key_item_len(item.cache, item.manager, key) <= self._budget(tenant, ack)

    # -- sending ------------------------------------------------------------------------------

    def publish(self, connection: BrokerConnection, message: PreparedMessage, *, confirm: bool = False,
                timeout: float = 30.0) -> None:
        connection.publish(self.topic, message.body, message.headers, confirm=confirm, timeout=timeout)

    def publish_async(self, connection: BrokerConnection, message: PreparedMessage, *,
                      timeout: float = 30.0, on: Transport | None = None) -> Future[None]:
        """Send without waiting: the future is done once the broker confirmed (or did not);
        `on`: only on that transport (see `BrokerConnection.publish_async`)."""
        return connection.publish_async(self.topic, message.body, message.headers, timeout=timeout, on=on)
