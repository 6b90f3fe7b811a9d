"""The connection of a cluster-local broker leg (`type = "broker"` source and target): its own
URL and credentials, and the connect check of `check()` (health, doctor)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def leg_connection(options: Mapping[str, Any], environ: Mapping[str, str], where: str, *,
                   client_id: str | None, on_event: Callable | None = None):
    """A `BrokerConnection` to the leg's broker, with its own credentials (not yet open)."""
    from cachesync_cli.config.resolve import resolve_secret
    from cachesync_cli.transport.base import ConnectOptions
    from cachesync_cli.transport.connection import Backoff, BrokerConnection

    password = resolve_secret(options["password"], f"{where} password", environ) if options["password"] else None
    connect = ConnectOptions(username=options["username"], password=password, client_id=client_id,
                             connect_timeout=10.0)
    return BrokerConnection(options["url"], connect, on_event=on_event, backoff=Backoff(cap=10.0))


def check_leg(options: Mapping[str, Any], environ: Mapping[str, str], where: str, error: Callable[[str, str], Exception],
              describe: str) -> None:
    """Connect to the leg's broker once (`check()` of a broker source or target: health, doctor);
    `error(message, hint)` is what to raise when it cannot."""
    from cachesync_cli.errors import TransportError

    connection = leg_connection(options, environ, where, client_id=None)
    try:
        connection.open()
    except TransportError as exc:
        raise error(f"{describe}: {exc}", exc.hint) from None
    finally:
        connection.close()
