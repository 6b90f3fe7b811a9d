"""Checks through the broker protocol: log in, subscribe and publish, a real round trip,
signatures, and the broker's clock.

The probe is a real `cachesync/1` envelope on the topic, of type `heartbeat`, from a node
id of its own (`<cluster>/doctor-<hex>`) with `applied: {}`: bridges treat it as harmless.
The subscription is transient, so doctor takes no message away from any bridge.
"""

from __future__ import annotations

from cachesync_cli.doctor.context import DoctorContext
from cachesync_cli.doctor.model import Detail, Outcome, Status, fail, not_applicable, ok, warn
from cachesync_cli.errors import (
    AuthenticationFailed,
    CachesyncError,
    ConnectionFailed,
    NotConfirmed,
    PermissionDenied,
    SignatureError,
)

CLOCK_WARN_MS = 1000.0
NO_PROBE_ON_JMS_TOPIC = "no probe on jms.durable.topic: IS nodes read every message there"
CLOCK_FAIL_MS = 30000.0


def check_auth(ctx: DoctorContext) -> Outcome:
    try:
        connection, elapsed = ctx.broker()
    except AuthenticationFailed as error:
        return fail(error.message, error.hint)
    except PermissionDenied as error:  # e.g. no access to the virtual host at all
        return fail(error.message, error.hint)
    except CachesyncError as error:
        return fail(f"cannot log in: {error.message}", error.hint)
    transport = connection.transport
    user = transport.login.username if transport else None
    who = f"as {user!r}" if user else "without a user name"
    return ok(f"logged in to {connection.endpoint} {who} ({connection.server}) in {elapsed:.0f} ms",
              metrics={"login_ms": elapsed})


def check_permissions(ctx: DoctorContext) -> Outcome:
    topic = ctx.cfg["broker.topic"]
    details, errors = [], []
    try:
        ctx.subscription()
        details.append(Detail("subscribe", Status.OK, f"subscribed to {topic!r} (transient)"))
    except CachesyncError as error:
        errors.append(error)
        details.append(Detail("subscribe", Status.FAIL, error.message))
    if _is_wso2_text_only(ctx):
        return _wso2_exchange(ctx, topic, details, errors)
    try:
        probe = ctx.probe()
        details.append(Detail("publish", Status.OK,
                              f"published to {topic!r}, confirmed in {probe.published_ms:.1f} ms"))
    except CachesyncError as error:
        errors.append(error)
        message = error.message
        if errors[:-1] and (isinstance(error, ConnectionFailed) or "subscription" in message):
            message = "not tried: the broker closed the connection when it refused the subscription"
        details.append(Detail("publish", Status.FAIL, message))
    if not errors:
        exchange = _exchange(ctx)
        exchange = f" on exchange {exchange!r}" if exchange else ""
        return ok(f"may subscribe to and publish on topic {topic!r}{exchange} "
                  f"(publish confirmed in {ctx.probe().published_ms:.1f} ms)")
    refused = [d.name for d in details if d.status is Status.FAIL]
    message = "; ".join(f"{d.name}: {d.message}" for d in details if d.status is Status.FAIL)
    if len(refused) > 1:
        message = f"{' and '.join(refused)} failed on topic {topic!r}"
    if any(isinstance(e, PermissionDenied) for e in errors):
        return fail(message, "grant the broker user write permission on the exchange and configure/write/read "
                             "on its own queues (RabbitMQ: rabbitmqctl set_permissions -p VHOST USER CONF WRITE "
                             "READ; ActiveMQ: an authorizationEntry for the topic)",
                    details=tuple(details))
    if any(isinstance(e, NotConfirmed) for e in errors):
        return fail(message, "the broker did not confirm the publish in time: is it overloaded or "
                             "blocking publishers (disk or memory alarm)?", details=tuple(details))
    return fail(message, details=tuple(details))


def _is_wso2_text_only(ctx: DoctorContext) -> bool:
    """Whether the topic is on the RabbitMQ JMS client's exchange, where IS nodes read
    every message and accept only WSO2 TextMessages (docs/wire.md §3.2)."""
    try:
        connection, _ = ctx.broker()
    except CachesyncError:
        return False
    return connection.wso2_text_only


def _wso2_exchange(ctx: DoctorContext, topic: str, details: list, errors: list) -> Outcome:
    """On `jms.durable.topic` doctor publishes no probe: IS nodes would read it (a native
    envelope stops their consumer; a WSO2 message would be applied)."""
    if errors:
        return fail("; ".join(e.message for e in errors), details=tuple(details))
    if ctx.cfg["codec.name"] != "wso2":
        return fail(f"topic {topic!r} is on exchange jms.durable.topic, where IS nodes' RabbitMQ JMS consumers "
                    f"read every message and accept only WSO2 TextMessages: a native publisher there (a bridge, "
                    f"invalidate, this probe) would stop their consumers",
                    'set [codec] name = "wso2" for a bridge on the IS topic, or keep native bridges on another '
                    'exchange ([broker] exchange = "amq.topic")', details=tuple(details))
    return ok(f"may subscribe to {topic!r} on exchange jms.durable.topic (IS nodes' RabbitMQ JMS topic); "
              f"no probe published there: IS nodes would read it", details=tuple(details))


def _exchange(ctx: DoctorContext) -> str | None:
    """The exchange the probe went to, where the protocol has one (AMQP)."""
    transport = ctx.broker()[0].transport
    return transport.exchange if transport else None


def check_roundtrip(ctx: DoctorContext) -> Outcome:
    if _is_wso2_text_only(ctx):
        return not_applicable(NO_PROBE_ON_JMS_TOPIC)
    probe = ctx.probe()
    received = ctx.probe_delivery()
    timeout = ctx.settings.timeout
    if received is None:
        return fail(f"the probe {probe.envelope.id} was published (and confirmed) but did not come back "
                    f"on the subscription within {timeout:g}s",
                    "the broker accepts messages but does not route them to subscribers: check the "
                    "exchange ([broker] exchange), the topic name, and broker-side policies")
    elapsed = (received.monotonic - probe.sent_monotonic) * 1000
    thresholds = ctx.settings.thresholds
    status = thresholds.judge(elapsed)
    message = f"probe published and received back in {elapsed:.1f} ms"
    metrics = {"roundtrip_ms": elapsed}
    if status is Status.OK:
        return ok(message, metrics=metrics)
    limit = thresholds.crit_ms if status is Status.FAIL else thresholds.warn_ms
    hint = "the broker or the network is slow: invalidations will lag behind"
    if status is Status.WARN:
        return warn(f"{message}, above {limit:g} ms", hint, metrics=metrics)
    return fail(f"{message}, above {limit:g} ms", hint, metrics=metrics, blocking=False)


def check_signature(ctx: DoctorContext) -> Outcome:
    keyring = ctx.keyring()
    if keyring is None:
        return not_applicable("signing is off ([signing] key_id unset): messages are neither signed nor checked")
    if _is_wso2_text_only(ctx):
        return not_applicable(NO_PROBE_ON_JMS_TOPIC)
    if keyring.signing_key_id is None:
        return warn("signatures are checked but this cluster signs nothing ([signing] key_id unset)",
                    "set [signing] key_id and its key, the same on every cluster")
    received = ctx.probe_delivery()
    if received is None:
        return fail("the probe did not come back, so its signature could not be checked")
    from cachesync_cli.errors import DecodeError
    from cachesync_cli.wire import decode_message

    try:
        decode_message(received.delivery.body, received.delivery.headers, "native", keyring=keyring)
    except SignatureError as error:
        return fail(f"the signed probe does not verify: {error.message}",
                    "the signing key changed between publishing and receiving? check [signing]")
    except DecodeError as error:
        return fail(f"the probe came back altered: {error.message}")
    required = "required" if ctx.cfg["signing.require"] else "not required of others ([signing] require = false)"
    return ok(f"the probe signed with key {keyring.signing_key_id!r} verifies; signatures {required}")


def check_clock(ctx: DoctorContext) -> Outcome:
    if _is_wso2_text_only(ctx):
        return not_applicable(NO_PROBE_ON_JMS_TOPIC)
    received = ctx.probe_delivery()
    if received is None:
        return fail("the probe did not come back, so the broker's clock could not be read")
    broker_ms = received.delivery.broker_timestamp
    if broker_ms is None:
        transport = ctx.broker()[0].transport
        why = transport.no_timestamp_reason if transport else "the broker set no timestamp on the probe"
        return not_applicable(f"{why}; the clock cannot be compared")
    probe = ctx.probe()
    roundtrip = (received.monotonic - probe.sent_monotonic) * 1000
    skew = broker_ms - (received.wall_ms - roundtrip / 2)
    metrics = {"clock_skew_ms": skew}
    message = (f"the broker's clock is {abs(skew):.0f} ms {'ahead of' if skew > 0 else 'behind'} this "
               f"host's (+/- {roundtrip / 2:.0f} ms)")
    hint = "synchronise clocks with NTP (chrony, systemd-timesyncd) on this host and the broker"
    if abs(skew) > CLOCK_FAIL_MS:
        return fail(message, hint, metrics=metrics, blocking=False)
    if abs(skew) > CLOCK_WARN_MS:
        return warn(message, hint, metrics=metrics)
    return ok(message, metrics=metrics)
