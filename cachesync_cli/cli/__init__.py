"""The `cachesync` command line: one module a command, errors turned into exit codes here.

Importing this package must stay cheap: no broker driver is imported until a command
opens a connection (`cachesync --help` and shell completion must not pay for pika & co),
and a command's module is imported only when that command runs, shows its help or is
completed (`lazy_commands.py`).
"""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from cachesync_cli import __version__
from cachesync_cli.cli import completers, output
from cachesync_cli.cli.lazy_commands import LazyCommand, lazy_group
from cachesync_cli.cli.shell_endings import guarded, shell_endings
from cachesync_cli.errors import CachesyncError

EPILOG = """[b]Examples[/b]

  cachesync demo                                    (see it work in seconds, nothing to set up)
  cachesync config init --cluster dc-east --broker amqp://mq.example.com:5672/
  cachesync doctor
  cachesync run --config /etc/cachesync/cachesync.toml
  cachesync invalidate AppInfoCache app-1 --confirm
  cachesync tail --format ndjson
  cachesync --context prod status                  (a named config file: cachesync context --help)

Each command has examples in its --help; docs/ has a page per command (docs/commands/)."""

#: The commands in the order of `cachesync --help`, each defined by its module in cli/, with
#: the first paragraph of its help (tests/cli/test_startup.py keeps it equal to the docstring).
COMMANDS = [
    LazyCommand("run", "run", "Run the bridge: publish this cluster's invalidations, apply the other clusters'."),
    LazyCommand("invalidate", "invalidate",
                "Publish invalidations: drop KEYs (or --all) of CACHE in every cluster."),
    LazyCommand("tail", "tail", "Print every message on the topic as it arrives "
                                "(a transient subscription: bridges lose nothing)."),
    LazyCommand("status", "status",
                "Show the clusters on the topic: origin, node, last seen, seq, lag, how far behind."),
    LazyCommand("retire", "retire",
                "Stop every bridge from watching CLUSTER (and flushing when it is silent); delete its queue."),
    LazyCommand("bench", "bench",
                "Measure the bridge pipeline end to end: throughput, latency, loss, CPU and memory."),
    LazyCommand("cleanup", "cleanup",
                "Clean the local caches: clear them, or drop what is idle or old, once or on a schedule."),
    LazyCommand("doctor", "doctor", "Check, end to end and in seconds, whether invalidations can flow: config, "
                                    "DNS, TCP, TLS, login,\npermissions, a real round trip on the topic, signatures, "
                                    "clock, local targets and sources.", cls="DoctorCommand"),
    LazyCommand("demo", "demo",
                "Watch an invalidation cross two clusters, then a lost message turn into a cache flush."),
    LazyCommand("completion", "completion", "Print the shell completion script for bash, zsh or fish."),
    LazyCommand("config", "config_cmd",  # a group: config_cmd.app
                "Write, show, validate and locate the configuration file (cachesync.toml)."),
    LazyCommand("context", "context",  # a group: context.app
                "Named config files (contexts): add one per deployment, pick one with `use`, then no --config."),
]

app = typer.Typer(
    name="cachesync",
    help="Keep caches coherent across Active-Active clusters through a central broker topic.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # never print locals: they can hold passwords
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="rich",
    epilog=EPILOG,
    cls=guarded(lazy_group(COMMANDS)),  # Ctrl-C: 130 and one line; a closed pipe: 0, quietly
)


def _version(value: bool) -> None:
    if value:
        output.write_line(f"cachesync {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True,
                                                    help="Print the version and exit.")] = None,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True,
                                         help="More log output on stderr; -vv includes the broker drivers.")] = 0,
    context: Annotated[Optional[str], typer.Option(
        "--context", metavar="NAME", show_default=False, autocompletion=completers.context_names,
        help="Read the config file of this context (cachesync context ls). --config wins over it; it wins "
             "over $CACHESYNC_CONFIG, $CACHESYNC_CONTEXT and the context in use.")] = None,
) -> None:
    """Keep caches coherent across Active-Active clusters through a central broker topic."""
    from cachesync_cli.cli.options import CommandLine
    from cachesync_cli.logs import setup_logging

    CommandLine.context = context
    setup_logging(verbose)


def main() -> None:
    """Run the CLI; every cachesync error becomes a message on stderr and a documented exit code.

    Typer itself turns usage errors into exit code 2 and `typer.Exit` into its code; Ctrl-C
    and a closed stdout are decided by `shell_endings` (the root group runs every command in it)."""
    from cachesync_cli.cli import coercion, rich_help

    rich_help.install()  # Typer's help loads without rich.markdown and pygments, when it is shown
    coercion.install()  # no pydantic where no value needs converting (help, completion)
    with shell_endings():  # what happens outside the root group: shell completion, the error below
        try:
            app(prog_name="cachesync")
        except CachesyncError as error:
            output.print_error(error)
            sys.exit(int(error.exit_status))
