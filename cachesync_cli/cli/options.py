"""Options shared by every command that talks to a broker: --config, --broker, --topic; and the
root command's --context, which every command's config lookup honours."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

BROKER_PANEL = "Broker"

ConfigOption = Annotated[
    Optional[Path],
    typer.Option("--config", "-c", metavar="PATH", envvar=None, show_default=False,
                 help="Config file. Default: cachesync --context NAME, $CACHESYNC_CONFIG, $CACHESYNC_CONTEXT, "
                      "the context in use (cachesync context use), ./cachesync.toml, the user config dir.",
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



class CommandLine:
    """What the root command's options say for the whole command line: set by the root callback
    on every invocation, read by the config lookup of whichever command runs."""

    context: Optional[str] = None  # --context NAME


def context_flag() -> Optional[str]:
    """The root command's `--context NAME` of this command line (None when not given)."""
    return CommandLine.context
