"""The transport table: every broker URL scheme, in one place.

A scheme names a record (`Scheme`): the protocol family (failover URLs share one), the
protocol as messages name it, the default port, whether it is TLS, and the transport class
as `"module:Class"`, imported only when a connection is made (`transport_class`), so that
`cachesync --help` never imports a driver. URL parsing, failover, the wrong-port probe, doctor
and the transports all read this table; nothing else lists schemes.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass

from cachesync_cli.errors import UsageError


@dataclass(frozen=True)
class Scheme:
    """One URL scheme: `amqps` is family `amqp`, protocol AMQP, port 5671, TLS."""

    name: str
    family: str
    protocol: str
    default_port: int
    tls: bool
    transport: str  # "module:Class"
    #: a broker inside this process (`memory://NAME`): no host, port or network
    in_process: bool = False


_AMQP = "cachesync_cli.transport.amqp:AmqpTransport"
_STOMP = "cachesync_cli.transport.stomp:StompTransport"
_MQTT = "cachesync_cli.transport.mqtt:MqttTransport"

SCHEMES: dict[str, Scheme] = {s.name: s for s in (
    Scheme("amqp", "amqp", "AMQP", 5672, False, _AMQP),
    Scheme("amqps", "amqp", "AMQP", 5671, True, _AMQP),
    Scheme("stomp", "stomp", "STOMP", 61613, False, _STOMP),
    Scheme("stomp+ssl", "stomp", "STOMP", 61614, True, _STOMP),
    Scheme("mqtt", "mqtt", "MQTT", 1883, False, _MQTT),
    Scheme("mqtts", "mqtt", "MQTT", 8883, True, _MQTT),
    Scheme("memory", "memory", "memory", 0, False, "cachesync_cli.transport.memory:MemoryTransport",
           in_process=True),
)}


def scheme(name: str, *, where: str = "") -> Scheme:
    """The record of scheme `name`. Raises UsageError with a "did you mean" and the list."""
    try:
        return SCHEMES[name]
    except KeyError:
        close = difflib.get_close_matches(name, SCHEMES, n=1)
        hint = f"did you mean {close[0]}://? " if close else ""
        raise UsageError(f"unknown broker URL scheme {name!r}{f' in {where}' if where else ''}",
                         hint=f"{hint}supported: {', '.join(SCHEMES)}") from None


def variant(family: str, *, tls: bool) -> Scheme | None:
    """The scheme of `family` with or without TLS (`amqp`, tls=True: `amqps`)."""
    return next((s for s in SCHEMES.values() if s.family == family and s.tls == tls), None)


def tls_schemes() -> list[Scheme]:
    return [s for s in SCHEMES.values() if s.tls]


def transport_class(name: str) -> type:
    """The Transport class of scheme `name`, importing its module (and its driver) now."""
    module_name, class_name = scheme(name).transport.split(":")
    return getattr(importlib.import_module(module_name), class_name)
