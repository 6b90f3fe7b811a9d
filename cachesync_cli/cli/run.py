"""`cachesync run`: the bridge, in the foreground, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated, Optional

import typer

from cachesync_cli.cli.options import BrokerOption, ConfigOption, TopicOption
from cachesync_cli.errors import ExitStatus

EPILOG = """[b]Examples[/b]

  cachesync run --config /etc/cachesync/cachesync.toml
  CACHESYNC_CLUSTER=dc-east cachesync run --broker amqp://mq:5672/ --config bridge.toml

Sources, targets and sync rules come from the config file: see docs/bridge.md.

[b]Exit status[/b]: 0 stopped by SIGTERM/SIGINT after flushing its queue; 2 usage or configuration
error; 3 broker unreachable at start, or credentials/permissions refused."""


def command(
    cluster: Annotated[Optional[str], typer.Option(metavar="ID", help="This cluster's id (overrides \\[cluster] id).",
                                                   rich_help_panel="Bridge")] = None,
    config: ConfigOption = None,
    broker: BrokerOption = None,
    topic: TopicOption = None,
) -> None:
    """Run the bridge: publish this cluster's invalidations, apply the other clusters'."""
    from cachesync_cli.bridge.bridge import Bridge
    from cachesync_cli.cli.common import load

    cfg = load(config, broker, topic, **{"cluster.id": (cluster, "--cluster")})
    logging.getLogger("cachesync").setLevel(min(logging.INFO, logging.getLogger().level))
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    bridge = Bridge(cfg)
    try:
        bridge.start()
        while not stop.wait(0.5):
            if bridge.failure is not None:
                raise bridge.failure
    finally:
        logging.getLogger("cachesync.bridge").info("stopping: flushing the outgoing queue")
        bridge.stop()
    raise typer.Exit(ExitStatus.OK)
