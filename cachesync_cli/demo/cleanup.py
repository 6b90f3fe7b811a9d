"""Removing the demo's durable subscriptions from a real broker.

Each transport deletes what it keeps for a durable subscription: on AMQP the demo's queues
(`cachesync.dc-a-<run>@<topic>`...), on STOMP the durable subscriptions (ActiveMQ) or their
queues (RabbitMQ), on MQTT the persistent sessions. Their names are unique to the run and
their topic (`cachesync.demo.<run>`) is never used again, so what cannot be deleted
accumulates nothing; the caller is told what was left.
"""

from __future__ import annotations

import logging

from cachesync_cli.transport import parse_endpoint, transport_class
from cachesync_cli.transport.base import ConnectOptions

log = logging.getLogger("cachesync.demo")


def delete_durable_subscriptions(url: str, clusters: list[str], topic: str) -> list[str]:
    """Delete the durable subscriptions of `clusters` on `topic` where the transport can;
    the clusters whose subscriptions are left."""
    endpoint = parse_endpoint(url)
    transport = transport_class(endpoint.scheme)(endpoint, ConnectOptions(), lambda error: None)
    delete = getattr(transport, "delete_durable_subscription", None)
    if delete is None:
        return list(clusters)
    left: list[str] = []
    try:
        transport.connect()
    except Exception as exc:
        log.warning("could not remove the demo's durable subscriptions: %s", exc)
        return list(clusters)
    try:
        for cluster in clusters:
            try:
                delete(cluster, topic)
            except Exception as exc:
                log.warning("could not remove the durable subscription of %s: %s", cluster, exc)
                left.append(cluster)
    finally:
        transport.close()
    return left
