"""`cachesync status`: the clusters on the topic, from their heartbeats."""


import json
import sys
import time
from typing import Annotated, Optional

import typer

from cachesync_cli.cli import formats
from cachesync_cli.cli.options import BrokerOption, ConfigOption, TopicOption
from cachesync_cli.errors import ExitStatus, UsageError

FORMATS = ("table", "json")
STATUS_PANEL = "Status"
FormatOption, JsonOption = formats.format_options(FORMATS, "table (default) or json.", panel=STATUS_PANEL)

#: The fields of a --template, one line per cluster (docs/monitoring.md lists them too).
TEMPLATE_FIELDS = {
    "origin": "the cluster id",
    "node": "its bridge's node id (cluster/process)",
    "last_seen": "seconds since its last heartbeat arrived",
    "seq": "the sequence number of its last heartbeat",
    "lag_ms": "heartbeat timestamp to arrival here, ms (clock skew included)",
    "behind": 'the clusters that had not applied all of it: "dc-west: 3"',
    "restarts": "times its node id changed while listening",
    "intake": "ok, down or none: whether its local sources receive",
    "pending_ms": "how long its oldest unpublished invalidation waited, ms",
    "heartbeats": "heartbeats heard from it while listening",
    "topic": "the topic listened to",
}

EPILOG = """[b]Examples[/b]

  cachesync status --broker amqp://mq:5672/
  cachesync status --format json | jq '.clusters[] | {origin, last_seen_seconds}'
  cachesync status --template '{origin} {node} seq={seq} behind={behind}'

Status ends once every cluster it knows of is heard: those heard, the clusters
their heartbeats name (what they applied from) and \\[sync] peers; --window is
the longest it listens (at least twice \\[sync] heartbeat_interval).
BEHIND: per other cluster, how many of this cluster's messages it had not
applied when it sent its last heartbeat (a few is normal under load). INTAKE:
whether the bridge has every local source receiving (ok, down, none).
UNPUBLISHED: how long its oldest local invalidation had waited for the broker.
A cluster that stopped sending has no heartbeat to hear: the running bridges
that watch it report it, and it is listed as "stopped sending N s ago (per
CLUSTER)" (JSON: "stopped") until it is retired; status does not wait for it.
--json is an alias of --format json.

[b]Template fields[/b] ({name}, {name:>8}; \\n and \\t allowed):

""" + "\n".join(f"  {name:<11} {text}" for name, text in TEMPLATE_FIELDS.items()) + """

[b]Exit status[/b]: 0 some cluster was seen; 1 no heartbeat in the window; 2 usage
or configuration error; 3 broker unreachable."""


def command(
    window: Annotated[float, typer.Option(metavar="SECONDS", help="The longest to listen for heartbeats (status "
                                          "ends once every known cluster is heard).",
                                          rich_help_panel=STATUS_PANEL)] = 12.0,
    fmt: FormatOption = None,
    template: Annotated[Optional[str], typer.Option(metavar="TEMPLATE",
                                                    help="One line per cluster, e.g. '{origin} {seq}' (fields "
                                                         "below).", rich_help_panel=STATUS_PANEL)] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
    broker: BrokerOption = None,
    topic: TopicOption = None,
) -> None:
    """Show the clusters on the topic: origin, node, last seen, seq, lag, how far behind."""
    from cachesync_cli.cli import output
    from cachesync_cli.cli.common import load, open_broker
    from cachesync_cli.config.resolve import keyring
    from cachesync_cli.peers import TopicWatcher, stopped_clusters

    fmt = formats.choose(fmt, FORMATS, alias=("--json", as_json, "json"), template=template)
    line = formats.Template(template, TEMPLATE_FIELDS) if template is not None else None
    if window <= 0:
        raise UsageError("--window must be more than 0")
    cfg = load(config, broker, topic)
    signing = keyring(cfg)
    connection = open_broker(cfg, timeout=None)
    try:
        watcher = TopicWatcher(connection, cfg["broker.topic"], keyring=signing)
        watcher.start()
        if fmt == "table":
            output.info(f"listening for heartbeats on {cfg['broker.topic']} (at most {window:g}s)...")
        peers = watcher.wait_until_heard(window, cfg["sync.peers"])
        unheard = watcher.unheard(cfg["sync.peers"])
    finally:
        connection.close()
    now = time.time()
    behind = {origin: watcher.behind(origin) for origin in peers}
    stopped = stopped_clusters(peers, now)
    if fmt == "json":
        clusters = [dict(peer.to_json(now), behind=behind[origin]) for origin, peer in sorted(peers.items())]
        output.write_line(json.dumps({"topic": cfg["broker.topic"], "window_seconds": window,
                                      "clusters": clusters, "unheard": sorted(unheard),
                                      "stopped": [cluster.to_json() for cluster in stopped],
                                      "rejected": watcher.rejected}))
    elif line is not None:
        for origin, peer in sorted(peers.items()):
            sys.stdout.write(line.render(_fields(peer, behind[origin], now, cfg["broker.topic"])))
        sys.stdout.flush()
    else:
        rows = [_fields(peer, behind[origin], now, cfg["broker.topic"]) for origin, peer in sorted(peers.items())]
        cells = [[show(row) for _, show in COLUMNS] for row in rows]
        for gone in stopped:  # no heartbeat of their own: the bridges that watch them say so
            cells.append([gone.origin, "-", f"stopped sending {gone.silent_seconds:.0f}s ago (per {', '.join(gone.per)})",
                          *["-"] * (len(COLUMNS) - 3)])
        output.print_table([heading for heading, _ in COLUMNS], cells, right=RIGHT)
    if unheard and fmt == "table":
        output.info(f"not heard within {window:g}s: {', '.join(sorted(unheard))}")
    for origin, peer in sorted(peers.items()):
        if peer.duplicates and fmt == "table":
            output.warn(f"two bridges run with cluster id {origin} (nodes {', '.join(peer.duplicates)}): they share "
                        f"its subscription, so each misses messages and flushes every cache; run one bridge per "
                        f"cluster id")
    if not peers:
        if fmt == "table":
            output.info("no heartbeat seen: is a bridge running on this topic?")
        raise typer.Exit(ExitStatus.FAILURE)


def _fields(peer, behind: dict[str, int], now: float, topic: str) -> dict[str, object]:
    """One cluster, as the table and a --template show it (the names of TEMPLATE_FIELDS)."""
    node = ", ".join(peer.duplicates) if peer.duplicates else peer.node  # two bridges of one id: both nodes
    return {"origin": peer.origin, "node": node, "last_seen": round(now - peer.last_seen, 1),
            "seq": peer.seq, "lag_ms": peer.lag_ms,
            "behind": ", ".join(f"{o}: {n}" for o, n in sorted(behind.items()) if n),
            "restarts": peer.restarts, "intake": peer.intake, "pending_ms": peer.pending_ms,
            "heartbeats": peer.heartbeats, "topic": topic}


#: The table: (heading, the cell from a cluster's fields).
COLUMNS = (
    ("origin", lambda f: f["origin"]),
    ("node", lambda f: f["node"]),
    ("last seen", lambda f: f"{f['last_seen']:.1f}s ago"),
    ("seq", lambda f: str(f["seq"])),
    ("lag", lambda f: f"{f['lag_ms']} ms"),
    ("behind", lambda f: f["behind"] or "-"),
    ("restarts", lambda f: str(f["restarts"])),
    ("intake", lambda f: f["intake"] or "-"),
    ("unpublished", lambda f: f"{f['pending_ms'] / 1000:.1f}s" if f["pending_ms"] else "-"),
)
RIGHT = ("seq", "lag", "restarts", "unpublished")
