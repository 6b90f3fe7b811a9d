"""`--peers`: which clusters are alive on the topic, and whether each acknowledges a probe.

Bridges publish heartbeats every few seconds (WIRE.md §2). For a window the doctor collects
them, and at the start publishes one envelope with `ack: true` for a single key of the
reserved cache `__cachesync_doctor__`, which no application has: a bridge that applies it
deletes nothing and publishes an `ack` whose `ack_of` is the probe's id. Two bridge nodes
of one cluster id heard alternating are two bridges with one id: a warning.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from cachesync_cli.doctor.context import DOCTOR_CACHE, DoctorContext
from cachesync_cli.doctor.model import Detail, Outcome, Status, fail, ok, warn


@dataclass
class Peer:
    origin: str
    node: str
    seq: int
    last_wall_ms: int
    acked: bool = False
    signature: str = ""  # "", or why its heartbeats do not verify
    duplicates: tuple[str, ...] = ()  # its bridge nodes heard alternating: two bridges with one cluster id


def check_peers(ctx: DoctorContext) -> Outcome:
    from cachesync_cli.wire import Item

    inbox = ctx.subscription()
    connection, _ = ctx.broker()
    publisher = ctx.publisher()
    request = publisher.envelope_message(
        publisher.build([Item(cache=DOCTOR_CACHE, keys=("probe",))], ack=True))
    publisher.publish(connection, request, confirm=True, timeout=ctx.settings.timeout)
    window = ctx.settings.peers_window
    seen = inbox.drain_until(time.monotonic() + window)
    peers = _peers(ctx, seen, request.envelope.id)
    if not peers:
        return warn(f"no heartbeat from any other cluster within {window:g}s",
                    "are the bridges of the other clusters running, on this broker and topic? "
                    "(a single cluster has no peers)")
    now = int(time.time() * 1000)
    details = []
    for peer in sorted(peers.values(), key=lambda p: p.origin):
        age = max(0.0, (now - peer.last_wall_ms) / 1000)
        facts = f"node {peer.node}, seq {peer.seq}, last heartbeat {age:.1f}s ago"
        if peer.duplicates:
            details.append(Detail(peer.origin, Status.WARN, f"two bridges run with cluster id {peer.origin} (nodes "
                                                            f"{', '.join(peer.duplicates)}): each misses messages "
                                                            f"and flushes every cache"))
        elif peer.origin == ctx.cluster():
            details.append(Detail(peer.origin, Status.OK, f"{facts}; this cluster's own bridge (bridges do not "
                                                          f"apply or ack their own cluster's messages)"))
        elif peer.signature:
            details.append(Detail(peer.origin, Status.FAIL, f"{facts}; heartbeats rejected: {peer.signature}"))
        elif peer.acked:
            details.append(Detail(peer.origin, Status.OK, f"{facts}; acknowledged the probe"))
        else:
            details.append(Detail(peer.origin, Status.WARN, f"{facts}; no ack from {peer.origin} within {window:g}s"))
    summary = "; ".join(f"{d.name}: {d.message}" for d in details)
    metrics = {"peers": float(len(peers)), "peers_acked": float(sum(p.acked for p in peers.values()))}
    others = len([p for p in peers.values() if p.origin != ctx.cluster()])
    if any(d.status is Status.FAIL for d in details):
        return fail(summary, "every cluster needs the same [signing] keys", metrics=metrics,
                    details=tuple(details), blocking=False)
    if any(p.duplicates for p in peers.values()):
        return warn(summary, "run one bridge per cluster id: stop the second one, or give it its own [cluster] id",
                    metrics=metrics, details=tuple(details))
    if any(d.status is Status.WARN for d in details):
        return warn(summary, "a bridge that does not ack may be down, stuck, or too old to ack (WIRE.md §2)",
                    metrics=metrics, details=tuple(details))
    return ok(f"{others} other cluster(s) alive and acknowledging: " + summary, metrics=metrics,
              details=tuple(details))


def _peers(ctx: DoctorContext, seen, request_id: str) -> dict[str, Peer]:
    from cachesync_cli.errors import DecodeError, SignatureError
    from cachesync_cli.peers import BridgeNodes
    from cachesync_cli.wire import ACK, HEARTBEAT, decode_message

    keyring = ctx.keyring()
    own = ctx.cluster()
    peers: dict[str, Peer] = {}
    acks: set[str] = set()
    nodes: dict[str, BridgeNodes] = {}  # per origin, from its bridges' heartbeats
    for received in seen:
        try:
            envelope = decode_message(received.delivery.body, received.delivery.headers, "native").envelope
        except DecodeError:
            continue
        if envelope is None or envelope.node.startswith(f"{own}/doctor-"):
            continue
        problem = ""
        if keyring is not None and ctx.cfg["signing.require"]:
            try:
                keyring.verify_envelope(envelope)
            except SignatureError as error:
                problem = error.message
        if envelope.type == HEARTBEAT and envelope.bridge is not None:
            nodes.setdefault(envelope.origin, BridgeNodes()).heard(envelope.node, received.wall_ms / 1000,
                                                                   stopping=envelope.bridge.stopping)
        if envelope.type == HEARTBEAT:
            peer = peers.get(envelope.origin)
            if peer is None or received.wall_ms >= peer.last_wall_ms:
                acked = peer.acked if peer else False
                peers[envelope.origin] = Peer(envelope.origin, envelope.node, envelope.seq, received.wall_ms,
                                              acked, problem or (peer.signature if peer else ""))
        elif envelope.type == ACK and envelope.ack_of == request_id and not problem:
            acks.add(envelope.origin)
    for origin, heard in nodes.items():
        if heard.duplicates and origin in peers:
            peers[origin].duplicates = tuple(sorted(heard.duplicates))
    for origin in acks:
        if origin in peers:
            peers[origin].acked = True
        else:  # acked without a heartbeat in the window: alive all the same
            peers[origin] = Peer(origin, "?", 0, int(time.time() * 1000), acked=True)
    return peers
