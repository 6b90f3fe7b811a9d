"""The `cachesync` command line: one module a command, errors turned into exit codes here.

Importing this package must stay cheap: no broker driver is imported until a command
opens a connection (`cachesync --help` and shell completion must not pay for pika & co).
"""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from cachesync_cli import __version__
from cachesync_cli.cli import bench, cleanup, config_cmd, doctor, invalidate, output, retire, run, status, tail
from cachesync_cli.cli import completers, completion, context, demo
from cachesync_cli.errors import CachesyncError, ExitStatus
from cachesync_cli.logs import setup_logging

EPILOG = """[b]Examples[/b]

  cachesync demo                                    (see it work in seconds, nothing to set up)
  cachesync config init --cluster dc-east --broker amqp://mq.example.com:5672/
  cachesync doctor
  cachesync run --config /etc/cachesync/cachesync.toml
  cachesync invalidate AppInfoCache app-1 --confirm
  cachesync tail --format ndjson
  cachesync --context prod status                  (a named config file: cachesync context --help)

Each command has examples in its --help; docs/ has a page per command (docs/commands/)."""

app = typer.Typer(
    name="cachesync",
    help="Keep caches coherent across Active-Active clusters through a central broker topic.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # never print locals: they can hold passwords
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="rich",
    epilog=EPILOG,
)
app.command("run", epilog=run.EPILOG)(run.command)
app.command("invalidate", epilog=invalidate.EPILOG)(invalidate.command)
app.command("tail", epilog=tail.EPILOG)(tail.command)
app.command("status", epilog=status.EPILOG)(status.command)
app.command("retire", epilog=retire.EPILOG)(retire.command)
app.command("bench", epilog=bench.EPILOG)(bench.command)
app.command("cleanup", epilog=cleanup.EPILOG)(cleanup.command)
app.command("doctor", cls=doctor.DoctorCommand, epilog=doctor.EPILOG)(doctor.command)
app.add_typer(config_cmd.app)
app.add_typer(context.app)
app.command("demo", epilog=demo.EPILOG)(demo.command)
app.command("completion", epilog=completion.EPILOG)(completion.command)


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

    CommandLine.context = context
    setup_logging(verbose)


def main() -> None:
    """Run the CLI; every cachesync error becomes a message on stderr and a documented exit code.

    Typer itself turns usage errors into exit code 2 and `typer.Exit` into its code."""
    from cachesync_cli.cli import rich_help

    rich_help.load()
    try:
        app(prog_name="cachesync")
    except CachesyncError as error:
        output.print_error(error)
        sys.exit(int(error.exit_status))
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(ExitStatus.OK)
