"""`cachesync context`: named config files under the user config dir, one in use at a time, so
an operator of several deployments does not pass --config (like `nats context`)."""

import json
import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from cachesync_cli.cli import completers, output, starter_file
from cachesync_cli.cli.options import context_flag
from cachesync_cli.errors import UsageError

ADD_EPILOG = """[b]Examples[/b]

  cachesync context add prod --config /etc/cachesync/prod.toml --use
  cachesync context add lab --broker amqp://lab-mq:5672/ --cluster lab-a \\\\
      --source redis-stream --target redis:redis://lab-cache:6379/0
  cachesync context add staging              (on a terminal it asks, as config init)

With --config the context is a link to that file, which stays where it is (edits to it
apply). Otherwise a starter file is written, as `cachesync config init` writes one.

[b]Exit status[/b]: 0 added; 2 it exists (without --force), or the file is invalid."""

USE_EPILOG = """[b]Examples[/b]

  cachesync context use prod
  cachesync status                  (reads prod's file: no --config needed)
  cachesync context use --none      (back to ./cachesync.toml and the user config dir)

Which file a command reads, first found: --config, cachesync --context NAME,
$CACHESYNC_CONFIG, $CACHESYNC_CONTEXT, the context in use, ./cachesync.toml,
the user config dir's cachesync.toml.

[b]Exit status[/b]: 0 done; 2 no such context."""

LS_EPILOG = """[b]Examples[/b]

  cachesync context ls
  cachesync context ls --format json | jq -r '.[] | select(.current) | .name'

[b]Exit status[/b]: 0."""

SHOW_EPILOG = """[b]Examples[/b]

  cachesync context show prod
  cachesync --context prod config show     (the effective settings, and their sources)

[b]Exit status[/b]: 0 shown; 2 no such context, or none in use."""

RM_EPILOG = """[b]Examples[/b]

  cachesync context rm lab               (asks on a terminal)
  cachesync context rm lab --force

A context added with --config is a link: the file it points to stays.

[b]Exit status[/b]: 0 removed; 1 not confirmed; 2 no such context, or no --force off a terminal."""

PANEL = "Context"

app = typer.Typer(
    name="context",
    help="Named config files (contexts): add one per deployment, pick one with `use`, then no --config.",
    no_args_is_help=True,
)

NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="The context's name.",
                                             autocompletion=completers.context_names)]


@app.command("add", epilog=ADD_EPILOG)
def add(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The context's name (letters, digits, . _ -).")],
    config: Annotated[Optional[Path], typer.Option(
        "--config", "-c", metavar="PATH", show_default=False,
        help="An existing config file: the context links to it instead of a new starter file.",
        rich_help_panel=starter_file.FILE_PANEL)] = None,
    use: Annotated[bool, typer.Option("--use", help="Also make it the context in use.",
                                      rich_help_panel=starter_file.FILE_PANEL)] = False,
    force: starter_file.ForceOption = False,
    cluster: starter_file.ClusterOption = None,
    broker: starter_file.BrokerUrlOption = None,
    source: starter_file.SourceSpecOption = None,
    target: starter_file.TargetSpecOption = None,
    no_input: starter_file.NoInputOption = False,
) -> None:
    """Add a context: a link to an existing config file (--config), or a new starter file."""
    from cachesync_cli.config import contexts

    path = contexts.context_file(name)
    if path.is_symlink() or path.exists():
        if not force:
            raise UsageError(f"context {name!r} already exists ({_describe(path)})",
                             hint="pass --force to replace it, or `cachesync context rm` it first")
    if config is not None:
        if cluster or broker or source or target:
            raise UsageError("--config links an existing file; --cluster, --broker, --source and --target "
                             "write a new one: give one or the other")
        _link(name, path, config)
    else:
        text = starter_file.starter_text(cluster=cluster, broker=broker, sources=source, targets=target,
                                         no_input=no_input)
        if path.is_symlink():
            path.unlink()
        starter_file.write_file(path, text, force=True)
        path.chmod(0o600)  # the user's own file: a broker password may be added to it
    output.info(f"added context {name!r}: {_describe(path)}")
    if use:
        contexts.select(name)
        output.info(f"using context {name!r}")
    elif contexts.selected() != name:
        output.info(f"use it with `cachesync context use {name}`, or `cachesync --context {name} COMMAND`")


def _link(name: str, path: Path, config: Path) -> None:
    from cachesync_cli.config.loader import read_config_file
    from cachesync_cli.errors import ConfigError

    source = config.expanduser().resolve()
    if not source.is_file():
        raise UsageError(f"context {name!r}: config file {source} (from --config) does not exist",
                         hint="create one with `cachesync config init PATH`, or leave out --config")
    try:
        read_config_file(source)
    except ConfigError as error:
        raise ConfigError(f"context {name!r} not added: {error.message}", hint=error.hint) from None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(source)
    tmp.replace(path)


@app.command("use", epilog=USE_EPILOG)
def use(
    name: Annotated[Optional[str], typer.Argument(metavar="NAME", help="The context to use from now on.",
                                                  autocompletion=completers.context_names)] = None,
    none: Annotated[bool, typer.Option("--none", help="Use no context any more.", rich_help_panel=PANEL)] = False,
) -> None:
    """Make a context the one every command reads when no --config is given."""
    from cachesync_cli.config import contexts

    if none == (name is not None):
        raise UsageError("give a context NAME, or --none", hint="`cachesync context ls` lists them")
    if none:
        contexts.select(None)
        output.info("using no context: commands read --config, $CACHESYNC_CONFIG, ./cachesync.toml, "
                    "or the user config dir")
        return
    path = contexts.resolve(name, "the command line")
    contexts.select(name)
    output.info(f"using context {name!r}: {_describe(path)}")
    _warn_overridden()


@app.command("ls", epilog=LS_EPILOG)
def ls(
    fmt: Annotated[str, typer.Option("--format", metavar="FORMAT", help="text, or json (a list of objects).",
                                     autocompletion=completers.choices("text", "json"),
                                     rich_help_panel="Output")] = "text",
) -> None:
    """List the contexts; * marks the one in use."""
    from cachesync_cli.config import contexts

    if fmt not in ("text", "json"):
        raise UsageError(f"--format {fmt!r}: must be text or json")
    current = _current()
    rows = [{"name": name, "current": name == current, "path": str(contexts.context_file(name)),
             "link_to": _link_target(contexts.context_file(name))} for name in contexts.names()]
    if fmt == "json":
        output.write_line(json.dumps(rows, indent=2))
    else:
        width = max((len(r["name"]) for r in rows), default=0)
        for row in rows:
            link = f" -> {row['link_to']}" if row["link_to"] else ""
            output.write_line(f"{'*' if row['current'] else ' '} {row['name']:<{width}}  {row['path']}{link}")
        if not rows:
            output.info("no contexts yet: `cachesync context add NAME` adds one")
    if current and current not in contexts.names():
        output.warn(f"the context in use, {current!r}, does not exist: `cachesync context use NAME` picks another")
    _warn_overridden()


@app.command("show", epilog=SHOW_EPILOG)
def show(name: Annotated[Optional[str], typer.Argument(
        metavar="NAME", help="Default: the context in use.", autocompletion=completers.context_names)] = None,
) -> None:
    """Print a context's config file (its path on stderr). `cachesync --context NAME config show`
    shows the effective settings."""
    from cachesync_cli.config import contexts

    name = name or _current()
    if name is None:
        raise UsageError("no context in use", hint="give a NAME, or `cachesync context use NAME`")
    path = contexts.resolve(name, "the command line")
    output.info(f"# context {name!r}: {_describe(path)}")
    output.write_line(path.read_text(encoding="utf-8").rstrip("\n"))


@app.command("rm", epilog=RM_EPILOG)
def rm(
    name: NameArgument,
    force: Annotated[bool, typer.Option("--force", help="Do not ask.", rich_help_panel=PANEL)] = False,
) -> None:
    """Remove a context (a linked file itself stays where it is)."""
    import sys

    from cachesync_cli.config import contexts

    path = contexts.resolve(name, "the command line") if not contexts.context_file(name).is_symlink() \
        else contexts.context_file(name)
    if not force:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise UsageError(f"not removing context {name!r} ({_describe(path)}) without --force",
                             hint=f"cachesync context rm {name} --force")
        if not typer.confirm(f"Remove context {name!r} ({_describe(path)})?"):
            raise typer.Exit(1)
    path.unlink()
    output.info(f"removed context {name!r}")
    if contexts.selected() == name:
        contexts.select(None)
        output.info("it was the context in use: none is now")


def _current() -> Optional[str]:
    """The context commands would read, when no --config or $CACHESYNC_CONFIG says otherwise."""
    from cachesync_cli.config import contexts

    return context_flag() or os.environ.get(contexts.CONTEXT_ENV) or contexts.selected()


def _warn_overridden() -> None:
    """Say when what is in effect is not the context `use` selected."""
    from cachesync_cli.config import contexts
    from cachesync_cli.config.loader import CONFIG_ENV

    if context_flag():
        return
    if os.environ.get(CONFIG_ENV):
        output.warn(f"${CONFIG_ENV} is set: commands read {os.environ[CONFIG_ENV]}, not a context")
    elif os.environ.get(contexts.CONTEXT_ENV):
        output.warn(f"${contexts.CONTEXT_ENV} is set: commands read context {os.environ[contexts.CONTEXT_ENV]!r}")


def _link_target(path: Path) -> Optional[str]:
    return os.readlink(path) if path.is_symlink() else None


def _describe(path: Path) -> str:
    target = _link_target(path)
    return f"{path} -> {target}" if target else str(path)
