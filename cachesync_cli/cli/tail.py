"""`cachesync tail`: watch the topic without taking messages from any bridge."""


import json
import queue
import sys
import time
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from cachesync_cli.cli import completers, output
from cachesync_cli.cli.options import BrokerOption, ConfigOption, TopicOption
from cachesync_cli.errors import ExitStatus, UsageError
from cachesync_cli.wire.codec_names import READ_CODECS

if TYPE_CHECKING:
    from cachesync_cli.observed import Observed

FORMATS = ("pretty", "ndjson", "raw")
TYPES = ("invalidate", "heartbeat", "ack", "malformed")
#: The fields of a --template, one line per message shown (docs/commands/tail.md lists them too).
TEMPLATE_FIELDS = {
    "time": "when it was sent (its ts), local time HH:MM:SS.mmm",
    "ts": "when it was sent, ms since the epoch",
    "type": "invalidate, heartbeat, ack or malformed",
    "origin": "the cluster that sent it",
    "node": "the process that sent it (cluster/id)",
    "seq": "its sequence number from that node",
    "id": "the message id",
    "tenant": "the tenant domain",
    "caches": "the caches it names, comma-separated",
    "keys": "the keys it drops, comma-separated",
    "key_count": "how many keys",
    "all": "true when it clears a whole cache",
    "ack_of": "ack: the id acknowledged",
    "applied": "heartbeat: last seq applied per origin, as JSON",
    "codec": "native or wso2",
    "verified": "true or false when signatures are checked",
    "destination": "where the broker delivered it",
    "error": "malformed: why it could not be decoded",
    "body": "the message body as received (UTF-8)",
}
FILTER_PANEL = "Filters"
OUTPUT_PANEL = "Output and exit"

EPILOG = """[b]Examples[/b]

  cachesync tail --broker amqp://mq:5672/
  cachesync tail --format ndjson --count 3 --idle-timeout 30
  cachesync tail --cache AppInfoCache --origin dc-west --heartbeats
  cachesync tail --format ndjson --count 100 | cachesync invalidate --file -     (replay)
  cachesync tail --template '{time} {origin}#{seq} {caches}: {keys}'

[b]Template fields[/b] ({name}, {name:>8}; \\n and \\t allowed):

""" + "\n".join(f"  {name:<12} {text}" for name, text in TEMPLATE_FIELDS.items()) + """

[b]Exit status[/b]: 0 after --count messages, on --idle-timeout without --count, or when the
reader of its output leaves (| head); 1 when --idle-timeout passes before --count messages came;
2 usage or configuration error; 3 broker unreachable, credentials refused, or no reconnection
within --timeout; 130 Ctrl-C."""


def command(
    fmt: Annotated[Optional[str], typer.Option("--format", metavar="FORMAT", help="pretty (default), ndjson or raw.",
                                               autocompletion=completers.choices(*FORMATS),
                                               rich_help_panel=OUTPUT_PANEL)] = None,
    template: Annotated[Optional[str], typer.Option(metavar="TEMPLATE",
                                                    help="One line per message, e.g. '{origin} {keys}' "
                                                         "(fields below).", rich_help_panel=OUTPUT_PANEL)] = None,
    codec: Annotated[str, typer.Option(metavar="CODEC", help="auto, native or wso2.",
                                       autocompletion=completers.choices(*READ_CODECS),
                                       rich_help_panel=OUTPUT_PANEL)] = "auto",
    cache: Annotated[Optional[list[str]], typer.Option(metavar="NAME", help="Only these caches (repeatable).",
                                                       autocompletion=completers.cache_names,
                                                       rich_help_panel=FILTER_PANEL)] = None,
    origin: Annotated[Optional[list[str]], typer.Option(metavar="CLUSTER", help="Only from these origins.",
                                                        rich_help_panel=FILTER_PANEL)] = None,
    tenant: Annotated[Optional[list[str]], typer.Option(metavar="DOMAIN", help="Only these tenant domains.",
                                                        rich_help_panel=FILTER_PANEL)] = None,
    msg_type: Annotated[Optional[list[str]], typer.Option("--type", metavar="TYPE",
                                                          help="Only these types: invalidate, heartbeat, ack, "
                                                               "malformed.", autocompletion=completers.choices(*TYPES),
                                                          rich_help_panel=FILTER_PANEL)] = None,
    heartbeats: Annotated[bool, typer.Option("--heartbeats", help="Show heartbeats (hidden by default).",
                                             rich_help_panel=FILTER_PANEL)] = False,
    count: Annotated[Optional[int], typer.Option(metavar="N", help="Exit after N messages shown.",
                                                 rich_help_panel=OUTPUT_PANEL)] = None,
    idle_timeout: Annotated[Optional[float], typer.Option(metavar="SECONDS",
                                                          help="Exit when nothing is shown for this long (hidden messages, e.g. heartbeats, do not count).",
                                                          rich_help_panel=OUTPUT_PANEL)] = None,
    timeout: Annotated[float, typer.Option(metavar="SECONDS",
                                           help="Give up when the broker cannot be reached again for this long; also the longest wait of one connection attempt.",
                                           rich_help_panel=OUTPUT_PANEL)] = 60.0,
    config: ConfigOption = None,
    broker: BrokerOption = None,
    topic: TopicOption = None,
) -> None:
    """Print every message on the topic as it arrives (a transient subscription: bridges lose nothing)."""
    from cachesync_cli.cli import formats

    fmt = formats.choose(fmt, FORMATS, template=template)
    line = formats.Template(template, TEMPLATE_FIELDS) if template is not None else None
    _check_choice("--codec", codec, READ_CODECS)
    for value in msg_type or []:
        _check_choice("--type", value, TYPES)
    if count is not None and count < 1:
        raise UsageError("--count must be 1 or more")
    from cachesync_cli.cli.common import load, open_broker  # the wire, config and transports: not for --help
    from cachesync_cli.config.resolve import keyring as configured_keyring
    from cachesync_cli.transport.base import Delivery, SubscriptionSpec

    cfg = load(config, broker, topic)
    keyring = configured_keyring(cfg)
    wanted = _filter(cache, origin, tenant, msg_type, heartbeats)
    inbox: queue.Queue[Delivery] = queue.Queue()
    connection = open_broker(cfg, timeout=None, reconnect_timeout=timeout, connect_timeout=timeout)
    try:
        connection.subscribe(SubscriptionSpec(cfg["broker.topic"], inbox.put))
        output.info(f"listening on {cfg['broker.topic']} at {connection.endpoint} ({connection.server}); "
                    f"Ctrl-C to stop")
        shown = _watch(connection, inbox, line or fmt, codec, keyring, wanted, count, idle_timeout)
    finally:  # Ctrl-C goes on to cli.shell_endings: exit 130
        connection.close()
    if count is not None and shown < count:
        output.info(f"idle for {idle_timeout:g}s after {shown} of {count} message(s)")
        raise typer.Exit(ExitStatus.FAILURE)


def _check_choice(flag: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise UsageError(f"{flag} {value!r}: must be one of {', '.join(allowed)}")


def _filter(caches, origins, tenants, types, heartbeats):
    types = set(types or ()) or ({"invalidate", "ack", "malformed"} | ({"heartbeat"} if heartbeats else set()))
    from cachesync_cli.wire.wso2 import strip_local_prefix

    caches = {strip_local_prefix(c) for c in caches or ()}

    def wanted(seen: "Observed") -> bool:
        if seen.type not in types:
            return False
        if seen.error is not None:
            return not (caches or origins or tenants)
        if caches and not caches.intersection(seen.caches):
            return False
        if origins and seen.origin not in origins:
            return False
        return not tenants or seen.tenant_domain in tenants

    return wanted


def _watch(connection, inbox, fmt, codec, keyring, wanted, count, idle_timeout) -> int:
    shown = 0
    last = time.monotonic()
    while count is None or shown < count:
        if connection.failure is not None:
            raise connection.failure
        if idle_timeout is not None and time.monotonic() - last >= idle_timeout:
            break  # nothing shown for that long: what the filters hide (heartbeats) does not count
        wait = 0.5 if idle_timeout is None else min(0.5, max(0.0, last + idle_timeout - time.monotonic()))
        try:
            delivery = inbox.get(timeout=wait)
        except queue.Empty:
            if idle_timeout is not None and time.monotonic() - last >= idle_timeout:
                break
            continue
        from cachesync_cli.observed import observe

        seen = observe(delivery, codec=codec, keyring=keyring)
        if not wanted(seen):
            continue
        last = time.monotonic()
        _print(seen, fmt)
        shown += 1
    return shown


def _print(seen: "Observed", fmt) -> None:
    if not isinstance(fmt, str):  # a --template
        sys.stdout.write(fmt.render(_fields(seen)))
        sys.stdout.flush()
    elif fmt == "ndjson":
        output.write_line(json.dumps(seen.to_json(), ensure_ascii=False, separators=(",", ":")))
    elif fmt == "raw":
        sys.stdout.buffer.write(seen.delivery.body + b"\n")
        sys.stdout.flush()
    else:
        from cachesync_cli.observed import pretty_line

        output.stdout().print(pretty_line(seen))
        sys.stdout.flush()


def _fields(seen: "Observed") -> dict[str, object]:
    """A message as a --template sees it (the names of TEMPLATE_FIELDS)."""
    from cachesync_cli.observed import format_time, shown_java_keys

    msg = seen.message or {}
    items = msg.get("items", [])
    keys = [key for item in items
            for key in item.get("keys") or item.get("unusable_keys") or shown_java_keys(item)]
    return {"time": format_time(msg.get("ts")), "ts": msg.get("ts"), "type": seen.type, "origin": msg.get("origin"),
            "node": msg.get("node"), "seq": msg.get("seq"), "id": msg.get("id"), "tenant": seen.tenant_domain,
            "caches": seen.caches, "keys": keys, "key_count": len(keys),
            "all": any(item.get("all") for item in items), "ack_of": msg.get("ack_of"),
            "applied": msg.get("applied"), "codec": seen.codec, "verified": seen.verified,
            "destination": seen.delivery.destination, "error": str(seen.error) if seen.error else None,
            "body": seen.delivery.body.decode("utf-8", "replace")}
