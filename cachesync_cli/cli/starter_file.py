"""The starter file from the command line, for `config init` and `context add`: the options,
the questions asked on a terminal, and writing the file.

On a terminal (stdin and stdout) every value not given as a flag is asked, with a default
that Enter accepts; otherwise (a pipe, a script, `--no-input`) the flags and defaults are
written as they are.
"""

import re
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

FILE_PANEL = "File"
LOCAL_PANEL = "Sources and targets"
DEFAULT_CLUSTER = "dc-east"
DEFAULT_BROKER = "amqp://localhost:5672/"
DEFAULT_SOURCE = "redis-stream"  # docs/local.md: durable, prefer it
DEFAULT_TARGET = "redis"

ForceOption = Annotated[bool, typer.Option("--force", help="Overwrite an existing file.",
                                           rich_help_panel=FILE_PANEL)]
ClusterOption = Annotated[Optional[str], typer.Option(
    "--cluster", metavar="ID", show_default=False,
    help=f"Cluster id to write (default: {DEFAULT_CLUSTER}; asked on a terminal).", rich_help_panel=FILE_PANEL)]
BrokerUrlOption = Annotated[Optional[str], typer.Option(
    "--broker", metavar="URL", show_default=False,
    help=f"Broker URL to write, no password: use $CACHESYNC_PASSWORD (default: {DEFAULT_BROKER}; asked on a "
         "terminal).", rich_help_panel=FILE_PANEL)]
SourceSpecOption = Annotated[Optional[list[str]], typer.Option(
    "--source", metavar="KIND[:VALUE]", show_default=False,
    help="A \\[\\[sources]] entry to write, repeatable: redis-channel, redis-stream or redis-keyspace[:REDIS_URL], "
         "http[:LISTEN_ADDRESS]. The other kinds are written as commented examples.",
    rich_help_panel=LOCAL_PANEL)]
TargetSpecOption = Annotated[Optional[list[str]], typer.Option(
    "--target", metavar="KIND[:VALUE]", show_default=False,
    help="A \\[\\[targets]] entry to write, repeatable: redis or redis-channel[:REDIS_URL], memcached[:HOST:PORT,...], "
         "webhook:URL[,URL], command:'PROGRAM ARGS', directory:PATH.", rich_help_panel=LOCAL_PANEL)]
NoInputOption = Annotated[bool, typer.Option(
    "--no-input", help="Ask nothing, even on a terminal: write the flags and defaults.",
    rich_help_panel=LOCAL_PANEL)]


def interactive(no_input: bool) -> bool:
    return not no_input and sys.stdin.isatty() and sys.stdout.isatty()


def starter_text(*, cluster: Optional[str], broker: Optional[str], sources: Optional[list[str]],
                 targets: Optional[list[str]], no_input: bool) -> str:
    """The starter file for these flags; on a terminal, what the flags leave open is asked."""
    from cachesync_cli.config.starter import check_setting, entry_from_spec, starter_config

    if cluster is not None:
        check_setting("cluster.id", cluster, "--cluster")
    if broker is not None:
        check_setting("broker.url", broker, "--broker")
    chosen = {"sources": [entry_from_spec("sources", s, "--source") for s in sources or ()],
              "targets": [entry_from_spec("targets", t, "--target") for t in targets or ()]}
    if interactive(no_input):
        if cluster is None:
            cluster = _ask_setting("cluster.id", "Cluster id (unique per cluster)", DEFAULT_CLUSTER)
        if broker is None:
            broker = _ask_setting("broker.url", "Broker URL (no password: use $CACHESYNC_PASSWORD)", DEFAULT_BROKER)
        if not sources:
            chosen["sources"] = _ask_entries(
                "sources", "Where do this cluster's applications announce invalidations (the bridge publishes "
                           "them)?", DEFAULT_SOURCE, several=False)
        if not targets:
            chosen["targets"] = _ask_entries(
                "targets", "What applies the other clusters' invalidations in this cluster? Several: 1,3",
                DEFAULT_TARGET, several=True)
    return starter_config(cluster=cluster or DEFAULT_CLUSTER, broker=broker or DEFAULT_BROKER,
                          sources=chosen["sources"], targets=chosen["targets"])


def _ask_setting(key: str, question: str, default: str) -> str:
    from cachesync_cli.config.starter import check_setting
    from cachesync_cli.errors import UsageError

    while True:
        answer = typer.prompt(question, default=default).strip()
        try:
            return check_setting(key, answer, "")
        except UsageError as error:
            typer.echo(f"  {error.message.strip()}" + (f" ({error.hint})" if error.hint else ""))


def _ask_entries(array: str, question: str, default: str, *, several: bool) -> list:
    """A numbered menu of the kinds (0: none), then each chosen kind's main value."""
    from cachesync_cli.entries import ENTRY_ARRAYS

    kinds = list(ENTRY_ARRAYS[array])
    typer.echo("")
    typer.echo(question)
    for number, kind in enumerate(kinds, start=1):
        typer.echo(f"  {number}  {kind:<15} {_short(ENTRY_ARRAYS[array][kind].help)}")
    typer.echo(f"  0  {'none':<15} {'this bridge publishes nothing' if array == 'sources' else 'apply nothing here'}")
    label = "Targets" if several else "Source"
    while True:
        answer = typer.prompt(label, default=str(kinds.index(default) + 1))
        picked = _pick(answer, kinds, several)
        if picked is not None:
            break
        typer.echo(f"  answer {'numbers or kinds, separated by commas' if several else 'a number or a kind'}, "
                   f"0 for none")
    return [_ask_value(array, kind) for kind in picked]


def _pick(answer: str, kinds: list[str], several: bool) -> Optional[list[str]]:
    picked = []
    for part in (p.strip() for p in answer.split(",") if p.strip()):
        if part in ("0", "none"):
            continue
        if part.isdigit() and 1 <= int(part) <= len(kinds):
            part = kinds[int(part) - 1]
        if part not in kinds:
            return None
        picked.append(part)
    if not several and len(picked) > 1:
        return None
    return list(dict.fromkeys(picked))


def _ask_value(array: str, kind: str):
    from cachesync_cli.config.starter import check_entry, field_value, main_field
    from cachesync_cli.errors import UsageError
    from cachesync_cli.entries import ENTRY_ARRAYS

    field = main_field(ENTRY_ARRAYS[array][kind])
    default = field.default
    if isinstance(default, list):
        default = (" " if field.name == "argv" else ",").join(default)
    typer.echo(f"  {field.help}")
    while True:
        text = typer.prompt(f"  {kind} {field.name}", default=default)
        values = {field.name: field_value(field, text)}
        try:
            return kind, check_entry(array, kind, values, f"{kind} {field.name}")
        except UsageError as error:
            typer.echo(f"  {error.message}")


def _short(text: str) -> str:
    """The first clause of a kind's description, for the menu."""
    return re.split(r"[.,:;] ", text, maxsplit=1)[0].rstrip(".")


def refuse_existing(target: Path, force: bool) -> None:
    """Before any question: an existing file is overwritten only with --force."""
    from cachesync_cli.errors import UsageError

    if target.exists() and not force:
        raise UsageError(f"{target} already exists", hint="pass --force to overwrite it")


def write_file(target: Path, text: str, *, force: bool) -> None:
    """Write atomically with mode 0640; an existing file only with --force."""
    refuse_existing(target, force)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(0o640)
    tmp.replace(target)
