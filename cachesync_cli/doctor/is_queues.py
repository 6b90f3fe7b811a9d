"""The `is-queues` check: WSO2 IS nodes' durable JMS subscriptions on RabbitMQ.

The RabbitMQ JMS client keeps an IS node's durable subscription in a queue named exactly as
the subscription, bound to `jms.durable.topic` (docs/wire.md §3.2). While its node is down,
or after its consumer stopped on a body it could not read, the queue has no consumer and
grows: that node applies no invalidation, and the broker fills up. Doctor cannot tell
which queues are IS nodes' by their names, so it looks only at those listed in `[doctor]
is_subscriptions`: twice, `is_interval` apart, by passive declares that take nothing. It
looks where the IS nodes are: on the broker of each cluster-local leg (`[[sources]]` and
`[[targets]]` of type "broker", with their own credentials) when there are legs, else on
`[broker]` (IS nodes and bridges on one topic).
"""

from __future__ import annotations

import os
import time

from cachesync_cli.doctor.context import DoctorContext
from cachesync_cli.doctor.model import Detail, Outcome, Status, not_applicable, ok, warn, worst

STALLED_HINT = ("start the IS node that owns it, or restart its cache-sync connector (the RabbitMQ JMS consumer "
                "stops for good on a body it cannot read); if that node is gone for good, delete the queue "
                "(rabbitmqctl delete_queue NAME), or it grows until the broker blocks every publisher")


def check_is_queues(ctx: DoctorContext) -> Outcome:
    names = ctx.cfg["doctor.is_subscriptions"]
    if not names:
        return not_applicable("no IS subscriptions to watch ([doctor] is_subscriptions unset)")
    timeout = ctx.settings.timeout
    brokers = _is_brokers(ctx)  # (label, connection); label "" for [broker]
    first = {(label, name): connection.queue_state(name, timeout=timeout)
             for label, connection in brokers for name in names}
    if any(state is None for state in first.values()):
        return not_applicable("the IS nodes' broker cannot tell a queue's depth and consumers over "
                              f"{' or '.join(sorted({_scheme(c) for _, c in brokers}))}: IS subscriptions are "
                              "watched on RabbitMQ over amqp:// only (docs/wso2.md)")
    interval = ctx.cfg["doctor.is_interval"]
    time.sleep(interval)
    details = [_judge(first[label, name], connection.queue_state(name, timeout=timeout), interval, label)
               for label, connection in brokers for name in names]
    status = worst(detail.status for detail in details)
    where = f" on {len(brokers)} leg broker(s)" if brokers[0][0] else ""
    summary = f"{len(names)} IS subscription(s) looked at {interval:g}s apart{where}"
    if status is Status.OK:
        return ok(f"{summary}: each has a consumer, or nothing waiting that grows", details=tuple(details))
    stalled = [d.name for d in details if d.status is Status.WARN and "grew" in d.message]
    if stalled:
        return warn(f"{', '.join(stalled)}: no consumer and growing ({summary}): the IS node behind it "
                    f"applies no invalidation", STALLED_HINT, details=tuple(details))
    return warn(f"{summary}: some cannot be watched", "check the names in [doctor] is_subscriptions against "
                "`rabbitmqctl list_bindings source_name routing_key destination_name` (source "
                "jms.durable.topic, routing key = the IS topic)", details=tuple(details))


def _is_brokers(ctx: DoctorContext) -> list:
    """Where IS nodes' queues are: each broker leg's broker (one connection a URL list), else `[broker]`."""
    from cachesync_cli.local.leg_connection import leg_connection

    legs = {}
    for array in ("sources", "targets"):
        for entry in ctx.cfg[array]:
            if entry["type"] == "broker":
                legs.setdefault(tuple(entry["url"]), (f"[[{array}]] {entry['name']!r}", entry))
    if not legs:
        connection, _ = ctx.broker()
        return [("", connection)]
    brokers = []
    for where, entry in legs.values():
        connection = leg_connection(entry, os.environ, where, client_id=None)
        ctx.on_close(connection.close)
        connection.open(timeout=ctx.settings.timeout)
        brokers.append((where, connection))
    return brokers


def _scheme(connection) -> str:
    return f"{connection.endpoints[0].scheme}://"


def _judge(before, after, interval: float, where: str = "") -> Detail:
    name = f"{after.name} ({where})" if where else after.name
    if not after.exists:
        return Detail(name, Status.WARN, "no such queue on this virtual host (not an IS durable subscription "
                                         "here, or not created yet)")
    if after.locked:
        return Detail(name, Status.WARN, "exclusive to another connection: a non-durable JMS subscriber's "
                                         "queue (jms-cons-...), which goes away with its node; list durable "
                                         "subscriptions only")
    waiting = f"{after.messages} message(s) waiting"
    if after.consumers:
        return Detail(name, Status.OK, f"{after.consumers} consumer(s), {waiting}")
    grown = after.messages - (before.messages if before.exists and not before.locked else after.messages)
    if grown > 0:
        return Detail(name, Status.WARN, f"no consumer, {waiting}: grew by {grown} in {interval:g}s")
    return Detail(name, Status.OK, f"no consumer, {waiting}, not growing")
