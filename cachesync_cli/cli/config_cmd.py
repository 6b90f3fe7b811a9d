"""`cachesync config`: write a starter file, show the effective settings, validate, locate."""


import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from cachesync_cli.cli import formats, output, starter_file
from cachesync_cli.cli.options import ConfigOption, context_flag
from cachesync_cli.errors import ExitStatus, UsageError

FILE_NAME = "cachesync.toml"  # cachesync_cli.config.loader.FILE_NAME; the config modules load on use

SHOW_FORMATS = ("table", "json")
OUTPUT_PANEL = "Output"
FormatOption, JsonOption = formats.format_options(
    SHOW_FORMATS, "table (default) or json: {key: {value, source}}.", panel=OUTPUT_PANEL)

INIT_EPILOG = """[b]Examples[/b]

  cachesync config init                  (on a terminal it asks)
  cachesync config init --cluster dc-east --broker amqp://mq:5672/ \\
      --source redis-stream:redis://cache:6379/0 \\
      --target redis:redis://cache:6379/0
  cachesync config init --target memcached:10.0.0.7:11211 \\
      --target directory:/var/cache/app
  cachesync config init /etc/cachesync/cachesync.toml --force --no-input

Without a source and a target the bridge has nothing to do (doctor warns).
The file is written with mode 0640 and holds no secrets (configuration.md).

[b]Exit status[/b]: 0 written; 2 the file exists (without --force), or a
--source/--target is wrong."""

SHOW_EPILOG = """[b]Examples[/b]

  cachesync config show
  CACHESYNC_TOPIC=t cachesync config show --format json | jq '.settings["broker.topic"]'

--json is an alias of --format json.

[b]Exit status[/b]: 0 shown; 2 the file is invalid."""

VALIDATE_EPILOG = """[b]Examples[/b]

  cachesync config validate
  cachesync config validate --config /etc/cachesync/cachesync.toml && systemctl restart cachesync

[b]Exit status[/b]: 0 valid; 2 invalid (the message names the file, section and key)."""

PATH_EPILOG = """[b]Examples[/b]

  cachesync config path
  $EDITOR "$(cachesync config path)"

[b]Exit status[/b]: 0 found; 1 no config file."""

app = typer.Typer(
    name="config",
    help="Write, show, validate and locate the configuration file (cachesync.toml).",
    no_args_is_help=True,
)


@app.command("init", epilog=INIT_EPILOG)
def init(
    path: Annotated[Optional[Path], typer.Argument(help=f"Where to write it. Default: ./{FILE_NAME}")] = None,
    force: starter_file.ForceOption = False,
    cluster: starter_file.ClusterOption = None,
    broker: starter_file.BrokerUrlOption = None,
    source: starter_file.SourceSpecOption = None,
    target: starter_file.TargetSpecOption = None,
    no_input: starter_file.NoInputOption = False,
) -> None:
    """Write a commented starter config file, with the sources and targets of this cluster
    (asked on a terminal) and every other kind as a commented example."""
    written = path or Path.cwd() / FILE_NAME
    starter_file.refuse_existing(written, force)
    text = starter_file.starter_text(cluster=cluster, broker=broker, sources=source, targets=target,
                                     no_input=no_input)
    starter_file.write_file(written, text, force=force)
    output.info(f"wrote {written}")


def _display(key: str, value) -> object:
    from cachesync_cli.config.schema import SETTINGS
    from cachesync_cli.transport.endpoint import redact_url

    if key == "broker.url" and value:
        return [redact_url(url) for url in value]
    setting = next(s for s in SETTINGS if s.key == key)
    return "***" if setting.secret and value else value


@app.command("show", epilog=SHOW_EPILOG)
def show(
    config: ConfigOption = None,
    fmt: FormatOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the effective configuration and where each value came from (secrets redacted)."""
    from cachesync_cli.config import load_config

    fmt = formats.choose(fmt, SHOW_FORMATS, alias=("--json", as_json, "json"))
    from cachesync_cli.config.resolve import broker_password
    from cachesync_cli.config.schema import SETTINGS

    cfg = load_config(config, context=context_flag())
    rows = {s.key: {"value": _display(s.key, cfg[s.key]), "source": cfg.source(s.key)} for s in SETTINGS}
    try:
        password_set = broker_password(cfg) is not None
    except UsageError:
        password_set = False
    rows["broker.password"] = {
        "value": "***" if password_set else None,
        "source": (f"file {cfg['broker.password_file']}" if cfg["broker.password_file"]
                   else f"env ${cfg['broker.password_env']}") if password_set else "not set",
    }
    from cachesync_cli.config.schema import ENTRY_ARRAYS

    for array in ENTRY_ARRAYS:  # [[sources]], [[targets]], [[cleanup]]: one row per entry
        for index, entry in enumerate(cfg[array], start=1):
            rows[f"{array}[{index}]"] = {"value": _entry_display(entry), "source": cfg.source(array)}
    if fmt == "json":
        output.write_line(json.dumps({"file": str(cfg.path) if cfg.path else None, "settings": rows}, indent=2))
        return
    this_file = f"file {cfg.path}"  # named once, in the title
    table = [[key, "-" if row["value"] is None else
              (row["value"] if isinstance(row["value"], str) else json.dumps(row["value"])),
              "file" if row["source"] == this_file else row["source"]] for key, row in rows.items()]
    output.print_table(("setting", "value", "source"), table, title=f"config file: {cfg.path or 'none'}",
                       fold=("source", "value"))


def _entry_display(entry: dict) -> dict:
    """An entry with any password in its URLs replaced by ***."""
    from cachesync_cli.transport.endpoint import redact_url

    def clean(value):
        if isinstance(value, str) and "://" in value:
            return redact_url(value)
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return {key: clean(value) for key, value in entry.items()}


@app.command("validate", epilog=VALIDATE_EPILOG)
def validate(config: ConfigOption = None) -> None:
    """Check the config file and the secrets it points to. Exit 0 when valid, 2 when not."""
    from cachesync_cli.config import load_config
    from cachesync_cli.config.resolve import broker_password, signing_keys

    cfg = load_config(config, context=context_flag())
    broker_password(cfg)
    signing_keys(cfg)
    output.info(f"ok: {cfg.path or 'no config file; defaults and environment'} is valid")


@app.command("path", epilog=PATH_EPILOG)
def path(config: ConfigOption = None) -> None:
    """Print the config file cachesync would read (exit 1 when there is none)."""
    import os

    from cachesync_cli.config.loader import CONFIG_ENV, find_config_file, user_config_path

    found, why = find_config_file(config, os.environ, context_flag())
    if found is None:
        output.info(f"no config file found; looked at --config, --context, ${CONFIG_ENV}, $CACHESYNC_CONTEXT, "
                    f"the context in use (none), ./{FILE_NAME}, {user_config_path()}")
        raise typer.Exit(ExitStatus.FAILURE)
    output.write_line(str(found))
    output.info(f"(from {why})")
