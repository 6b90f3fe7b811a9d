"""Removing the demo's durable subscriptions from a real broker.

On AMQP the demo's queues (`cachesync.dc-a-<run>`, `cachesync.dc-b-<run>`) are deleted.
STOMP has no portable way to delete a durable subscription, so there they stay: their names
are unique to the run and their topic (`cachesync.demo.<run>`) is never used again, so
nothing accumulates in them. The caller is told what was left.
"""

from __future__ import annotations

import logging

from cachesync_cli.transport import parse_endpoint, transport_class
from cachesync_cli.transport.base import ConnectOptions

log = logging.getLogger("cachesync.demo")


def delete_durable_subscriptions(url: str, clusters: list[str]) -> list[str]:
    """Delete the durable subscriptions of `clusters` where the transport can; the names left."""
    endpoint = parse_endpoint(url)
    transport = transport_class(endpoint.scheme)(endpoint, ConnectOptions(), lambda error: None)
    delete = getattr(transport, "delete_durable_subscription", None)
    if delete is None:
        return [f"cachesync.{cluster}" for cluster in clusters]
    left: list[str] = []
    try:
        transport.connect()
    except Exception as exc:
        log.warning("could not remove the demo's queues: %s", exc)
        return [f"cachesync.{cluster}" for cluster in clusters]
    try:
        for cluster in clusters:
            try:
                delete(cluster)
            except Exception as exc:
                log.warning("could not remove queue cachesync.%s: %s", cluster, exc)
                left.append(f"cachesync.{cluster}")
    finally:
        transport.close()
    return left
