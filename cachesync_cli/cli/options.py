"""Options shared by every command that talks to a broker: --config, --broker, --topic."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

BROKER_PANEL = "Broker"

ConfigOption = Annotated[
    Optional[Path],
    typer.Option("--config", "-c", metavar="PATH", envvar=None, show_default=False,
                 help="Config file. Default: $CACHESYNC_CONFIG, ./cachesync.toml, then the user config dir.",
                 rich_help_panel=BROKER_PANEL),
]
BrokerOption = Annotated[
    Optional[list[str]],
    typer.Option("--broker", "-b", metavar="URL", show_default=False,
                 help="Broker URL, e.g. amqp://user:pw@host:5672/ or stomp://host:61613; "
                      "repeat for failover. Overrides \\[broker] url and $CACHESYNC_BROKER.",
                 rich_help_panel=BROKER_PANEL),
]
TopicOption = Annotated[
    Optional[str],
    typer.Option("--topic", "-t", metavar="NAME", show_default=False,
                 help="Topic name. Overrides \\[broker] topic and $CACHESYNC_TOPIC (default: cachesync).",
                 rich_help_panel=BROKER_PANEL),
]
