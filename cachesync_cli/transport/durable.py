"""Deleting durable subscriptions from outside a bridge: what the demo and the bench leave.

Each transport deletes what its broker keeps for a durable subscription
(`Transport.delete_durable_subscription`): on AMQP the queue `cachesync.<name>@<topic>`, on
STOMP the durable subscription (ActiveMQ) or its queue (RabbitMQ), on MQTT the persistent
session. Run it once the subscriptions' bridges are stopped: a running one subscribes again.
"""

from __future__ import annotations

import logging

from cachesync_cli.transport.base import ConnectOptions
from cachesync_cli.transport.endpoint import parse_endpoint
from cachesync_cli.transport.schemes import transport_class

log = logging.getLogger("cachesync.transport")


def delete_durable_subscriptions(url: str, names: list[str], topic: str,
                                 options: ConnectOptions = ConnectOptions()) -> list[str]:
    """Delete the durable subscriptions of `names` (cluster ids) on `topic` at `url`, with
    what waits in them; the names whose subscription is left (each logged as a warning)."""
    endpoint = parse_endpoint(url)
    transport = transport_class(endpoint.scheme)(endpoint, options, lambda error: None)
    try:
        transport.connect()
    except Exception as exc:
        log.warning("could not remove the durable subscriptions of %s: %s", ", ".join(names), exc)
        return list(names)
    left: list[str] = []
    try:
        for name in names:
            try:
                transport.delete_durable_subscription(name, topic)
            except Exception as exc:
                log.warning("could not remove the durable subscription of %s: %s", name, exc)
                left.append(name)
    finally:
        transport.close()
    return left
