"""The transport layer: a URL scheme picks the transport, imported only when used.

Commands never talk to a driver: they open a `BrokerConnection` (failover, reconnection,
resubscription) which drives a `Transport` chosen by the URL's scheme in the transport
table (`schemes.py`).
"""

from __future__ import annotations

from cachesync_cli.transport.base import (
    ConnectOptions,
    Delivery,
    SubscriptionSpec,
    TlsOptions,
    Transport,
)
from cachesync_cli.transport.endpoint import Endpoint, parse_endpoint, redact_url
from cachesync_cli.transport.schemes import SCHEMES, Scheme, transport_class

__all__ = [
    "ConnectOptions",
    "Delivery",
    "Endpoint",
    "SCHEMES",
    "Scheme",
    "SubscriptionSpec",
    "TlsOptions",
    "Transport",
    "parse_endpoint",
    "redact_url",
    "transport_class",
]
