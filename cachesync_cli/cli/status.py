"""`cachesync status`: the clusters on the topic, from their heartbeats."""


import json
import time
from typing import Annotated

import typer

from cachesync_cli.cli.options import BrokerOption, ConfigOption, TopicOption
from cachesync_cli.errors import ExitStatus

EPILOG = """[b]Examples[/b]

  cachesync status --broker amqp://mq:5672/
  cachesync status --window 20 --json | jq '.clusters[] | {origin, last_seen_seconds}'

Bridges send a heartbeat every few seconds ([sync] heartbeat_interval, 5 s by default): the
window should be at least twice that. BEHIND is, per other cluster, how many of this
cluster's messages it had not applied at its last heartbeat (a few is normal under load).
INTAKE is whether the cluster's bridge has every local source receiving (ok, down, none);
UNPUBLISHED how long its oldest local invalidation had waited for the broker (a bridge
cut off from the broker cannot say so: its heartbeats stop). A cluster that stopped sending
has no heartbeat to hear: the running bridges that watch it report it, and it is listed as
"stopped sending N s ago (per CLUSTER)" (JSON: "stopped") until it is retired

[b]Exit status[/b]: 0 some cluster was seen; 1 no heartbeat in the window; 2 usage or
configuration error; 3 broker unreachable."""


def command(
    window: Annotated[float, typer.Option(metavar="SECONDS", help="How long to listen for heartbeats.",
                                          rich_help_panel="Status")] = 12.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.",
                                          rich_help_panel="Status")] = False,
    config: ConfigOption = None,
    broker: BrokerOption = None,
    topic: TopicOption = None,
) -> None:
    """Show the clusters on the topic: origin, node, last seen, seq, lag, how far behind."""
    from cachesync_cli.cli import output
    from cachesync_cli.cli.common import load, open_broker
    from cachesync_cli.config.resolve import signing_keys
    from cachesync_cli.peers import TopicWatcher, stopped_clusters
    from cachesync_cli.wire import Keyring

    cfg = load(config, broker, topic)
    key_id, keys = signing_keys(cfg)
    connection = open_broker(cfg, timeout=None)
    try:
        watcher = TopicWatcher(connection, cfg["broker.topic"], keyring=Keyring(key_id, keys) if keys else None)
        watcher.start()
        if not as_json:
            output.info(f"listening for heartbeats on {cfg['broker.topic']} for {window:g}s...")
        peers = watcher.wait_for_peers(window)
    finally:
        connection.close()
    now = time.time()
    behind = {origin: _behind(peer, peers) for origin, peer in peers.items()}
    stopped = stopped_clusters(peers, now)
    if as_json:
        clusters = [dict(peer.to_json(now), behind=behind[origin]) for origin, peer in sorted(peers.items())]
        output.write_line(json.dumps({"topic": cfg["broker.topic"], "window_seconds": window,
                                      "clusters": clusters, "stopped": [c.to_json() for c in stopped],
                                      "rejected": watcher.rejected}))
    else:
        _table(peers, behind, now, stopped)
    if not peers:
        if not as_json:
            output.info("no heartbeat seen: is a bridge running on this topic?")
        raise typer.Exit(ExitStatus.FAILURE)


def _behind(peer, peers: dict) -> dict[str, int]:
    """For each other cluster: how many of `peer`'s messages it had not applied."""
    return {other.origin: max(0, peer.seq - other.applied[peer.origin])
            for other in peers.values() if other.origin != peer.origin and peer.origin in other.applied}


def _table(peers: dict, behind: dict[str, dict[str, int]], now: float, stopped: list) -> None:
    from rich.table import Table

    from cachesync_cli.cli import output

    table = Table(title_justify="left")
    for column in ("origin", "node", "last seen", "seq", "lag", "behind", "restarts", "intake", "unpublished"):
        table.add_column(column, justify="right" if column in ("seq", "lag", "restarts", "unpublished") else "left")
    for origin, peer in sorted(peers.items()):
        lagging = ", ".join(f"{o}: {n}" for o, n in sorted(behind[origin].items()) if n) or "-"
        table.add_row(origin, peer.node, f"{now - peer.last_seen:.1f}s ago", str(peer.seq), f"{peer.lag_ms} ms",
                      lagging, str(peer.restarts), peer.intake or "-",
                      f"{peer.pending_ms / 1000:.1f}s" if peer.pending_ms else "-")
    for gone in stopped:  # no heartbeat of their own: the bridges that watch them say so
        table.add_row(gone.origin, "-", f"stopped sending {gone.silent_seconds:.0f}s ago (per {', '.join(gone.per)})",
                      *["-"] * 6)
    output.stdout().print(table)
