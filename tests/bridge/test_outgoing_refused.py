"""The publishing thread when RabbitMQ refuses messages it has in flight.

Several envelopes await their confirms at once (`PUBLISH_WINDOW`). When the broker refuses
one (here: a queue bound to the topic is full and set to `reject-publish`), that envelope
and every one sent after it are held and sent again, in order, with the same ids and
sequence numbers, once the broker takes them: a receiver sees every key, and sequence
numbers in order with no gap (so it never flushes a cache for a gap that was not one).
"""

from __future__ import annotations

import logging
import time

from cachesync_cli.bridge.outgoing import Outgoing
from cachesync_cli.bridge.rules import SyncRules
from cachesync_cli.bridge.spool import Spool
from cachesync_cli.bridge.stats import BridgeStats
from cachesync_cli.publisher import Publisher
from cachesync_cli.wire import Item, decode_message
from cachesync_cli.wire.local import LocalMessage
from tests.bridge.processes import wait_until
from tests.transport.brokers import Inbox, connect, full_queue_on, subscribe

KEYS = 40


def test_refused_messages_in_flight_are_sent_again_in_order(tmp_path, amqp_url, topic_name, caplog):
    caplog.set_level(logging.WARNING, logger="cachesync.bridge.outgoing")
    with connect(amqp_url) as watcher, connect(amqp_url) as connection, \
            full_queue_on(amqp_url, topic_name, room=5) as (channel, full_queue):
        inbox: Inbox = subscribe(watcher, topic_name)
        spool = Spool(tmp_path / "spool.sqlite", max_keys=10_000)
        outgoing = Outgoing(connection=connection, publisher=Publisher(topic_name, origin="a"), spool=spool,
                            rules=SyncRules(), stats=BridgeStats(), heartbeat_interval=3600, applied=dict)
        outgoing.start()
        try:
            for n in range(KEYS):  # paced, so that they leave as many envelopes
                outgoing.submit(LocalMessage(items=(Item(cache="C", keys=(f"k{n}",)),)))
                time.sleep(0.002)
            wait_until(lambda: "negative confirm" in caplog.text, timeout=10, message="a refusal")
            held = outgoing.stats.get("published_keys")
            assert held < KEYS
            channel.queue_delete(full_queue)  # the broker takes everything again
            wait_until(lambda: outgoing.stats.get("published_keys") == KEYS, timeout=15,
                       message=f"all {KEYS} keys confirmed (had {held})")
            wait_until(lambda: spool.depth == 0, timeout=5, message="spool rows of confirmed batches removed")
        finally:
            outgoing.stop()
        assert outgoing.fatal is None
        bodies = [d.body for d in inbox.take(outgoing.stats.get("published_messages"))] + inbox.quiet(1.0)

    first_seen: dict[int, set[str]] = {}
    for body in bodies:  # refused envelopes reached the watcher's queue too: duplicates
        envelope = decode_message(body, {"content-type": "application/json"}).envelope
        first_seen.setdefault(envelope.seq, {key for item in envelope.items for key in item.keys})
    seqs = list(first_seen)
    assert seqs == list(range(1, len(seqs) + 1)), f"sequence numbers out of order or with a gap: {seqs}"
    assert set().union(*first_seen.values()) == {f"k{n}" for n in range(KEYS)}
    assert len(bodies) > len(seqs)  # some were sent twice: the refused ones
