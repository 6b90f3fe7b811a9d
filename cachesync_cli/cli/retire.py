"""`cachesync retire`: tell every bridge that a cluster is gone for good."""


from typing import Annotated

import typer

from cachesync_cli.cli.options import BrokerOption, ConfigOption, TopicOption
from cachesync_cli.errors import ExitStatus

EPILOG = """[b]Examples[/b]

  cachesync retire dc-north --config /etc/cachesync/cachesync.toml
  cachesync retire dc-old-1 dc-old-2 --broker amqp://mq:5672/

Every bridge watches each cluster whose bridge's heartbeats it has received, and remembers
it on disk: when a watched cluster falls silent for longer than \\[sync] max_silence, the
others flush (\\[sync] silence_flush), again and again while it lasts. A cluster that was
taken out of service for good must be retired, or that goes on forever. The retirement
travels on the topic (a signed heartbeat when \\[signing] is set), so bridges that are
down get it from their durable subscription; each keeps it in its state file. A retired
cluster whose bridge sends heartbeats again is watched again.

The retired cluster's own durable subscription (where messages pile up while nobody reads
them) is deleted too, with what waits in it: on AMQP its queue, on STOMP the durable
subscription (ActiveMQ) or its queue (RabbitMQ), on MQTT its persistent session. Retire a
cluster whose bridge is stopped: a running one subscribes again (and on ActiveMQ and MQTT,
which know a subscription by its client id, the deletion is refused or takes it over).

[b]Exit status[/b]: 0 published and confirmed by the broker, and the subscriptions deleted;
1 a subscription could not be deleted; 2 usage or configuration error; 3 broker unreachable
or refused."""


def command(
    clusters: Annotated[list[str], typer.Argument(metavar="CLUSTER", help="Cluster ids to retire.",
                                                  show_default=False)],
    timeout: Annotated[float, typer.Option(metavar="SECONDS", help="Give up connecting or confirming after this.",
                                           rich_help_panel="Send")] = 30.0,
    config: ConfigOption = None,
    broker: BrokerOption = None,
    topic: TopicOption = None,
) -> None:
    """Stop every bridge from watching CLUSTER (and flushing when it is silent); delete its queue."""
    from cachesync_cli.cli import output
    from cachesync_cli.cli.common import load, open_broker
    from cachesync_cli.config.resolve import cluster_id, keyring
    from cachesync_cli.errors import UsageError
    from cachesync_cli.publisher import Publisher
    from cachesync_cli.wire import HEARTBEAT

    cfg = load(config, broker, topic)
    if cfg["codec.name"] != "native":
        raise UsageError("retire needs the native codec: WSO2 nodes read every message on the topic as theirs")
    publisher = Publisher(cfg["broker.topic"], origin=cluster_id(cfg), keyring=keyring(cfg))
    message = publisher.envelope_message(publisher.build((), type=HEARTBEAT, applied={}, retire=tuple(clusters)))
    connection = open_broker(cfg, timeout=timeout)
    try:
        publisher.publish(connection, message, confirm=True, timeout=timeout)
        output.info(f"retired {', '.join(clusters)} on topic {cfg['broker.topic']}: every bridge stops watching "
                    f"{'it' if len(clusters) == 1 else 'them'} as the message reaches it")
        failed = [cluster for cluster in clusters
                  if not _delete_subscription(connection, cluster, cfg["broker.topic"], timeout)]
    finally:
        connection.close()
    if failed:
        raise typer.Exit(ExitStatus.FAILURE)


def _delete_subscription(connection, cluster: str, topic: str, timeout: float) -> bool:
    """Delete `cluster`'s durable subscription to `topic`, saying what was done or is left.
    False when it could not be deleted."""
    from cachesync_cli.cli import output
    from cachesync_cli.errors import CachesyncError

    try:
        deleted = connection.delete_durable_subscription(cluster, topic, timeout=timeout)
    except CachesyncError as exc:
        output.warn(f"could not delete the durable subscription of {cluster} to {topic}: {exc.message}"
                    + (f" ({exc.hint})" if exc.hint else "") + ": its messages keep piling up on the broker")
        return False
    output.info(f"deleted the durable subscription of {cluster} to {topic} ({deleted}), and the messages "
                f"waiting in it")
    return True
