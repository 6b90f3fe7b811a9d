"""The transport layer: a URL scheme picks the transport, imported only when used.

Commands never talk to a driver: they open a `BrokerConnection` (failover, reconnection,
resubscription) which drives a `Transport` chosen here by the URL's scheme.
"""

from __future__ import annotations

import importlib

from cachesync_cli.errors import UsageError
from cachesync_cli.transport.base import (
    ConnectOptions,
    Delivery,
    SubscriptionSpec,
    TlsOptions,
    Transport,
)
from cachesync_cli.transport.endpoint import DEFAULT_PORTS, Endpoint, parse_endpoint, redact_url

#: scheme -> "module:Class". The module imports its driver; nothing else does.
TRANSPORTS: dict[str, str] = {
    "memory": "cachesync_cli.transport.memory:MemoryTransport",
    "amqp": "cachesync_cli.transport.amqp:AmqpTransport",
    "amqps": "cachesync_cli.transport.amqp:AmqpTransport",
    "stomp": "cachesync_cli.transport.stomp:StompTransport",
    "stomp+ssl": "cachesync_cli.transport.stomp:StompTransport",
    "mqtt": "cachesync_cli.transport.mqtt:MqttTransport",
    "mqtts": "cachesync_cli.transport.mqtt:MqttTransport",
}

#: The pip distribution that provides each transport's driver, for install hints.
DRIVERS: dict[str, str] = {
    "amqp": "pika", "amqps": "pika", "stomp": "stomp.py", "stomp+ssl": "stomp.py",
    "mqtt": "paho-mqtt", "mqtts": "paho-mqtt",
}


def transport_class(scheme: str) -> type[Transport]:
    """The Transport class for a URL scheme, importing its module (and driver) now."""
    try:
        target = TRANSPORTS[scheme]
    except KeyError:
        planned = f"; {scheme}:// is not available in this version" if scheme in DEFAULT_PORTS else ""
        raise UsageError(
            f"no transport for scheme {scheme!r}{planned}",
            hint=f"supported: {', '.join(TRANSPORTS)}",
        ) from None
    module_name, class_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        driver = DRIVERS.get(scheme, exc.name or "?")
        raise UsageError(
            f"the {scheme}:// transport needs the Python package {driver!r}, which is not installed",
            hint=f"pip install {driver}",
        ) from None
    return getattr(module, class_name)


__all__ = [
    "ConnectOptions",
    "Delivery",
    "Endpoint",
    "SubscriptionSpec",
    "TRANSPORTS",
    "TlsOptions",
    "Transport",
    "parse_endpoint",
    "redact_url",
    "transport_class",
]
