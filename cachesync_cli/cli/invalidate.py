"""`cachesync invalidate`: publish invalidations by hand or in bulk."""


import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from cachesync_cli.cli import completers, output
from cachesync_cli.cli.options import BrokerOption, ConfigOption, TopicOption
from cachesync_cli.errors import CachesyncError, ExitStatus, NotConfirmed, UsageError

if TYPE_CHECKING:
    from cachesync_cli.invalidations import Batch
    from cachesync_cli.publisher import PreparedMessage, Publisher

FORMATS = ("text", "json")
INPUT_FORMATS = ("auto", "keys", "ndjson")  # cachesync_cli.invalidations.INPUT_FORMATS (a test checks)

INPUT_PANEL = "What to invalidate"
ACK_PANEL = "Acknowledgements"
SEND_PANEL = "How to send"

EPILOG = """[b]Examples[/b]

  cachesync invalidate AppInfoCache app-1 app-2 --broker amqp://mq:5672/
  cachesync invalidate AuthorizationCache --all --confirm
  cachesync invalidate OAuthCache --file revoked-tokens.txt --tenant wso2.com:3
  cachesync invalidate AppInfoCache app-1 --codec wso2 --manager IdentityApplicationManagementCacheManager
  cachesync tail --format ndjson --count 10 > seen.ndjson; cachesync invalidate --file seen.ndjson

  cachesync invalidate OAuthCache token-9 --wait-acks                  (every cluster applied it?)
  cachesync invalidate OAuthCache token-9 --wait-acks --expect dc-east,dc-west

[b]Exit status[/b]: 0 sent (and confirmed and acknowledged, when asked), 1 not confirmed or not
acknowledged by every cluster in time, 2 usage or configuration error, 3 broker unreachable or
credentials refused, 130 interrupted (Ctrl-C) while waiting for acknowledgements (who had and who
had not acknowledged is printed)."""


def command(
    cache: Annotated[Optional[str], typer.Argument(help="Cache name, e.g. AppInfoCache.", show_default=False,
                                                   autocompletion=completers.cache_names)]
    = None,
    keys: Annotated[Optional[list[str]], typer.Argument(help="Keys to drop from the cache.", show_default=False)]
    = None,
    all_keys: Annotated[bool, typer.Option("--all", help="Clear the whole cache.", rich_help_panel=INPUT_PANEL)]
    = False,
    file: Annotated[Optional[str], typer.Option("--file", "-f", metavar="PATH",
                                                help="Read keys (one a line) or NDJSON from PATH; - is stdin.",
                                                rich_help_panel=INPUT_PANEL)] = None,
    input_format: Annotated[str, typer.Option("--input", metavar="FORMAT",
                                              help="Format of --file: auto, keys or ndjson (tail's output).",
                                              autocompletion=completers.choices(*INPUT_FORMATS),
                                              rich_help_panel=INPUT_PANEL)] = "auto",
    manager: Annotated[Optional[str], typer.Option(help="Cache manager name (required by the wso2 codec).",
                                                   rich_help_panel=INPUT_PANEL)] = None,
    tenant: Annotated[Optional[str], typer.Option(metavar="DOMAIN[:ID]", help="Tenant, e.g. carbon.super:-1234.",
                                                  rich_help_panel=INPUT_PANEL)] = None,
    codec: Annotated[Optional[str], typer.Option(metavar="CODEC", help="native or wso2 (default: \\[codec] name).",
                                                 autocompletion=completers.choices("native", "wso2"),
                                                 rich_help_panel=SEND_PANEL)] = None,
    sender: Annotated[Optional[str], typer.Option(metavar="NAME",
                                                  help="wso2 codec: producer name (default: \\[codec] producer).",
                                                  rich_help_panel=SEND_PANEL)] = None,
    confirm: Annotated[bool, typer.Option("--confirm", help="Wait for the broker to confirm every message.",
                                          rich_help_panel=SEND_PANEL)] = False,
    timeout: Annotated[float, typer.Option(metavar="SECONDS", help="Give up connecting or confirming after this.",
                                           rich_help_panel=SEND_PANEL)] = 30.0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the messages instead of sending them.",
                                          rich_help_panel=SEND_PANEL)] = False,
    fmt: Annotated[Optional[str], typer.Option("--format", metavar="FORMAT",
                                               help="text (default: a summary on stderr) or json (a result "
                                                    "object on stdout).",
                                               autocompletion=completers.choices(*FORMATS),
                                               rich_help_panel=SEND_PANEL)] = None,
    as_json: Annotated[bool, typer.Option("--json", hidden=True, help="Alias of --format json.",
                                          rich_help_panel=SEND_PANEL)] = False,
    wait_acks: Annotated[bool, typer.Option("--wait-acks",
                                            help="Wait until every cluster has applied it (read your invalidation).",
                                            rich_help_panel=ACK_PANEL)] = False,
    expect: Annotated[Optional[str], typer.Option(metavar="A,B",
                                                  help="Clusters that must acknowledge (default: those seen alive "
                                                       "in heartbeats).", rich_help_panel=ACK_PANEL)] = None,
    ack_timeout: Annotated[float, typer.Option(metavar="SECONDS", help="How long to wait for acknowledgements.",
                                               rich_help_panel=ACK_PANEL)] = 30.0,
    discover: Annotated[float, typer.Option(metavar="SECONDS",
                                            help="Without --expect: how long to wait for a bridge's heartbeat "
                                                 "(which names the clusters to expect).",
                                            rich_help_panel=ACK_PANEL)] = 6.0,
    config: ConfigOption = None,
    broker: BrokerOption = None,
    topic: TopicOption = None,
) -> None:
    """Publish invalidations: drop KEYs (or --all) of CACHE in every cluster."""
    from cachesync_cli.cli import formats

    as_json = formats.choose(fmt, FORMATS, alias=("--json", as_json, "json")) == "json"
    if input_format not in INPUT_FORMATS:
        raise UsageError(f"--input {input_format!r}: must be one of {', '.join(INPUT_FORMATS)}")
    # The wire, config and transports are imported here, not for --help or completion.
    from cachesync_cli.cli.common import load
    from cachesync_cli.config.resolve import cluster_id, signing_keys
    from cachesync_cli.invalidations import parse_tenant
    from cachesync_cli.publisher import Publisher
    from cachesync_cli.wire import Keyring

    cfg = load(config, broker, topic, **{"codec.name": (codec, "--codec"), "codec.producer": (sender, "--sender")})
    tenant_value = parse_tenant(tenant) if tenant else None
    batches = _batches(cache, keys or [], all_keys, file, input_format, manager, tenant_value)
    key_id, key_map = signing_keys(cfg)
    origin = cluster_id(cfg)
    publisher = Publisher(cfg["broker.topic"], origin=origin, codec=cfg["codec.name"],
                          producer=cfg["codec.producer"], wso2_format=cfg["codec.wso2_format"],
                          keyring=Keyring(key_id, key_map) if key_map else None)
    if wait_acks and publisher.codec == "wso2":
        raise UsageError("--wait-acks needs the native codec: WSO2 messages cannot ask for acknowledgements")
    messages = [m for batch in batches
                for m in publisher.messages(batch.items, tenant=batch.tenant, ack=wait_acks)]
    if not messages:
        raise UsageError("nothing to invalidate: the input holds no keys")
    result = {"messages": len(messages), "items": sum(m.items for m in messages),
              "keys": sum(m.keys for m in messages), "codec": publisher.codec, "topic": publisher.topic,
              "dry_run": dry_run, "confirmed": None, "seconds": 0.0,
              "ids": [m.envelope.id for m in messages if m.envelope is not None]}
    started = time.monotonic()
    if dry_run and as_json:
        result["bodies"] = [json.loads(message.body) for message in messages]
    elif dry_run:
        for message in messages:
            output.write_line(message.body.decode("utf-8"))
    else:
        acks = AckWait(_expected(expect), ack_timeout, discover) if wait_acks else None
        _send(cfg, publisher, messages, confirm=confirm, timeout=timeout, result=result, acks=acks)
    result["seconds"] = round(time.monotonic() - started, 3)
    _report(result, as_json)
    if result.get("interrupted"):
        raise typer.Exit(130)  # Ctrl-C, as the shell reports it
    if result.get("error"):
        raise typer.Exit(ExitStatus.FAILURE)


def _batches(cache, keys, all_keys, file, input_format, manager, tenant) -> "list[Batch]":
    from cachesync_cli.invalidations import Batch, read_invalidations
    from cachesync_cli.wire import Item

    if all_keys and (keys or file):
        raise UsageError("--all clears the whole cache: give no KEYs and no --file with it")
    if file is not None:
        if keys:
            raise UsageError("give keys either as arguments or with --file, not both")
        if file == "-":
            return list(read_invalidations(sys.stdin, name="<stdin>", input_format=input_format,
                                           cache=cache, manager=manager, tenant=tenant))
        path = Path(file)
        try:
            with path.open(encoding="utf-8") as stream:
                return list(read_invalidations(stream, name=str(path), input_format=input_format,
                                               cache=cache, manager=manager, tenant=tenant))
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise UsageError(f"{path} is not UTF-8 text") from None
    if cache is None:
        raise UsageError("name the CACHE to invalidate", hint="cachesync invalidate CACHE KEY... or --all")
    if not keys and not all_keys:
        raise UsageError(f"no keys given for {cache!r}", hint="give KEYs, --file PATH, or --all")
    return [Batch(tenant, (Item(cache=cache, keys=tuple(keys), all=all_keys, manager=manager),))]


def _expected(expect: str | None) -> set[str] | None:
    if expect is None:
        return None
    clusters = {name.strip() for name in expect.split(",") if name.strip()}
    if not clusters:
        raise UsageError("--expect needs cluster ids, e.g. --expect dc-east,dc-west")
    return clusters


@dataclass
class AckWait:
    expected: set[str] | None  # None: discover from heartbeats
    timeout: float
    discover: float


def _send(cfg, publisher: "Publisher", messages: "list[PreparedMessage]", *, confirm: bool, timeout: float,
          result: dict, acks: AckWait | None = None) -> None:
    from cachesync_cli.cli.common import open_broker
    from cachesync_cli.peers import TopicWatcher

    connection = open_broker(cfg, timeout=None, connect_timeout=timeout)
    result["broker"] = str(connection.endpoint)
    try:
        # Listening before publishing: the bridges' heartbeats name the clusters to expect
        # while the message travels, and no acknowledgement comes before the watcher hears it.
        watcher = TopicWatcher(connection, publisher.topic).start() if acks else None
        with _progress(len(messages), sum(m.keys for m in messages)) as advance:
            for message in messages:
                publisher.publish(connection, message, confirm=confirm, timeout=timeout)
                advance(message.keys or 1)
        result["confirmed"] = True if confirm else None
        if acks is not None:
            _wait_acks(watcher, acks, publisher.origin, result)
    except NotConfirmed as exc:
        result["confirmed"] = False
        result["error"] = str(exc)
    finally:
        connection.close()


def _wait_acks(watcher, acks: AckWait, own: str, result: dict) -> None:
    """Wait for the acknowledgements, a status line on a terminal; on Ctrl-C, who had."""
    ids = result["ids"]
    try:
        with _ack_status() as show:
            progress = watcher.wait_for_acks(ids, acks.expected, acks.timeout, own=own, discover=acks.discover,
                                             on_progress=show)
    except KeyboardInterrupt:
        progress = watcher.ack_progress(ids, acks.expected, own=own, discover=acks.discover)
        result["interrupted"] = True
        result["error"] = "interrupted while waiting for acknowledgements"
    result["acked"], result["not_acked"] = progress.acked, progress.waiting
    if result.get("interrupted"):
        return
    if not progress.acked and not progress.waiting:
        result["error"] = (f"--wait-acks: no bridge's heartbeat or acknowledgement within {acks.discover:g}s "
                           f"(the message was sent)")
        result["hint"] = "check that bridges run (cachesync status), or name them with --expect"
    elif result["not_acked"]:
        result["error"] = (f"no acknowledgement within {acks.timeout:g}s from {', '.join(result['not_acked'])}")
    elif not progress.settled:
        result["error"] = f"no bridge's heartbeat within {acks.timeout:g}s to tell which clusters to expect"


class _ack_status:
    """A status line on a terminal's stderr while acknowledgements come in; nothing when piped."""

    def __enter__(self):
        if not output.stderr().is_terminal:
            return lambda progress: None
        from rich.status import Status

        self._status = Status("waiting for acknowledgements", console=output.stderr())
        self._status.start()
        return lambda progress: self._status.update(progress.describe())

    def __exit__(self, *exc_info) -> None:
        if hasattr(self, "_status"):
            self._status.stop()


class _progress:
    """A rich progress bar on a terminal's stderr for bulk sends; nothing when piped."""

    def __init__(self, messages: int, keys: int) -> None:
        self.total = keys or messages
        self.show = messages > 1 and output.stderr().is_terminal
        self._progress = None

    def __enter__(self):
        if not self.show:
            return lambda n: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self._progress = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                                  TimeRemainingColumn(), console=output.stderr(), transient=True)
        self._progress.start()
        task = self._progress.add_task("invalidating", total=self.total)
        return lambda n: self._progress.advance(task, n)

    def __exit__(self, *exc_info) -> None:
        if self._progress is not None:
            self._progress.stop()


def _report(result: dict, as_json: bool) -> None:
    """The result on stdout with --json, a summary on stderr otherwise; problems always on stderr."""
    hint = result.pop("hint", None)
    if as_json:
        output.write_line(json.dumps(result))
    else:
        verb = "would send" if result["dry_run"] else "sent"
        confirmed = {True: ", confirmed", False: ", NOT confirmed", None: ""}[result["confirmed"]]
        output.info(f"{verb} {result['messages']} message(s), {result['keys']} key(s) in {result['items']} "
                    f"item(s) to {result['topic']} ({result['codec']}){confirmed} in {result['seconds']:.2f}s")
        if "acked" in result:
            output.info(f"acknowledged by: {', '.join(result['acked']) or 'none'}")
    if result.get("not_acked"):
        output.info(f"NOT acknowledged by: {', '.join(result['not_acked'])}")
    elif result.get("interrupted") and not result.get("acked"):
        output.info("NOT acknowledged by: none known yet (no bridge's heartbeat heard)")
    if result.get("error"):
        output.print_error(CachesyncError(result["error"], hint=hint))
