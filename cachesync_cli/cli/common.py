"""What the commands share: loading the configuration from flags and opening the broker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cachesync_cli.cli import output
from cachesync_cli.cli.options import context_flag
from cachesync_cli.config import Config, load_for_command
from cachesync_cli.config.resolve import connect_options
from cachesync_cli.transport.backoff import Backoff
from cachesync_cli.transport.connection import BrokerConnection, ConnectionEvent


def load(config: Path | None, broker: list[str] | None = None, topic: str | None = None,
         **overrides: tuple[Any, str]) -> Config:
    """The effective configuration for a command, its flags (and the root's --context) taking precedence."""
    return load_for_command(config, broker, topic, context=context_flag(), **overrides)


def report_event(event: ConnectionEvent) -> None:
    """Connection changes on stderr, so an operator sees them; the first connect is quiet."""
    if event.kind == "connected" and not event.reconnect:
        return
    if event.kind in ("closed", "failed"):
        return  # a failure is raised as an error and printed once, by main()
    output.warn(event.describe()) if event.kind != "connected" else output.info(event.describe())


def open_broker(config: Config, *, client_id: str | None = None, timeout: float | None = None,
                reconnect_timeout: float | None = None, connect_timeout: float | None = None,
                quiet: bool = False) -> BrokerConnection:
    """A connected BrokerConnection for the configured URLs (failover in order). One
    connection attempt waits at most `connect_timeout` (a command's `--timeout`), `timeout`
    and `[broker] connect_timeout`, whichever is shortest."""
    import dataclasses

    urls = config.broker_urls()
    options = connect_options(config, client_id=client_id)
    limits = [limit for limit in (timeout, connect_timeout) if limit]
    if limits:
        options = dataclasses.replace(options, connect_timeout=min(options.connect_timeout, *limits))
    connection = BrokerConnection(
        urls,
        options,
        on_event=None if quiet else report_event,
        backoff=Backoff(cap=config["broker.reconnect_max_delay"]),
        reconnect_timeout=reconnect_timeout,
    )
    return connection.open(timeout=timeout)
