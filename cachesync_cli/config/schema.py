"""The configuration schema: every setting of `cachesync.toml`, its type, default and meaning.

This table is the single source for validation, the environment overrides, the commented
starter file (`config init`), `config show`, and the configuration reference in docs/.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cachesync_cli.entries import ENTRY_ARRAYS as ENTRY_KINDS
from cachesync_cli.entries.fields import (
    Checker,
    boolean,
    broker_urls,
    choice,
    listen_address,
    non_negative_number,
    nonempty_text,
    positive_int,
    positive_number,
    text,
    text_list,
)
from cachesync_cli.wire.codec_names import CODEC_NAMES


def key_sources(value: Any) -> dict[str, str]:
    """Key id -> where the key is: "env:NAME" or "file:PATH"."""
    if not isinstance(value, dict):
        raise ValueError('must be a table of key id = "env:NAME" or "file:PATH"')
    for key_id, source in value.items():
        if not isinstance(source, str) or not source.startswith(("env:", "file:")):
            raise ValueError(f'key {key_id!r}: must be "env:NAME" or "file:PATH"')
    return dict(value)


SILENCE_ACTIONS = ("flush", "fence")


def silence_actions(value: Any) -> list[str]:
    """`"flush"`, `"fence"`, or a list of both."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(v in SILENCE_ACTIONS for v in value):
        raise ValueError('must be "flush", "fence" or ["flush", "fence"]')
    return list(dict.fromkeys(value))


silence_actions.allowed = SILENCE_ACTIONS  # type: ignore[attr-defined]

#: max_silence must leave room for this many heartbeats (one lost, one late, and margin)
HEARTBEATS_PER_SILENCE = 4


@dataclass(frozen=True)
class Setting:
    key: str  # dotted, e.g. "broker.url"
    check: Checker
    default: Any
    help: str
    env: str | None = None  # environment variable that overrides the file
    secret: bool = False  # redacted by `config show`
    example: str | None = None  # TOML value shown in the starter file

    @property
    def section(self) -> str:
        return self.key.rsplit(".", 1)[0]

    @property
    def name(self) -> str:
        return self.key.rsplit(".", 1)[1]

    @property
    def allowed(self) -> tuple[str, ...] | None:
        return getattr(self.check, "allowed", None)


SETTINGS: tuple[Setting, ...] = (
    Setting("cluster.id", nonempty_text, None,
            "This cluster's id: the `origin` of what it publishes. Unique per cluster.",
            env="CACHESYNC_CLUSTER", example='"dc-east"'),
    Setting("broker.url", broker_urls, None,
            "Broker URL, or a list of URLs tried in failover order. Schemes: amqp, amqps (RabbitMQ), "
            "stomp, stomp+ssl (RabbitMQ, ActiveMQ), mqtt, mqtts (MQTT 5 or 3.1.1: Mosquitto, EMQX, RabbitMQ, "
            "ActiveMQ), memory (tests). Credentials may be in the URL.",
            env="CACHESYNC_BROKER", example='["amqp://broker-1.example.com:5672/", "amqp://broker-2.example.com:5672/"]'),
    Setting("broker.topic", nonempty_text, "cachesync",
            "Topic name shared by every cluster (WIRE.md §1).", env="CACHESYNC_TOPIC", example='"cachesync"'),
    Setting("broker.username", text, None, "User name, unless the URL has one.",
            env="CACHESYNC_USERNAME", example='"cachesync"'),
    Setting("broker.password_env", nonempty_text, "CACHESYNC_PASSWORD",
            "Name of the environment variable holding the password.", example='"CACHESYNC_PASSWORD"'),
    Setting("broker.password_file", nonempty_text, None,
            "File holding the password (first line), instead of an environment variable.",
            example='"/run/secrets/cachesync-broker-password"'),
    Setting("broker.exchange", nonempty_text, "amq.topic", "AMQP only: the topic exchange.",
            example='"amq.topic"'),
    Setting("broker.heartbeat", positive_int, 10,
            "Seconds between broker heart-beats; a dead connection is noticed in about twice this.",
            example="10"),
    Setting("broker.connect_timeout", positive_number, 10.0,
            "Seconds to wait for one connection attempt.", example="10"),
    Setting("broker.reconnect_max_delay", positive_number, 3.0,
            "Longest pause between reconnection attempts (exponential backoff with jitter): how long "
            "a bridge may take to notice that its broker is back.",
            example="3"),
    Setting("broker.tls.ca_file", nonempty_text, None,
            "CA certificates (PEM) to verify the broker with; the system's store when unset.",
            example='"/etc/cachesync/ca.pem"'),
    Setting("broker.tls.cert_file", nonempty_text, None, "Client certificate (PEM), for mutual TLS.",
            example='"/etc/cachesync/client.pem"'),
    Setting("broker.tls.key_file", nonempty_text, None, "Client private key (PEM), for mutual TLS.",
            example='"/etc/cachesync/client.key"'),
    Setting("broker.tls.verify", boolean, True,
            "Verify the broker's certificate and host name. Turn off only for a test broker.",
            example="true"),
    Setting("codec.name", choice(*CODEC_NAMES), "native",
            "Wire format: native (cachesync/1 envelopes) or wso2 (WSO2 Identity Server's JMS cache-sync).",
            env="CACHESYNC_CODEC", example='"native"'),
    Setting("codec.producer", nonempty_text, None,
            "wso2 codec: the producer name sent in the `sender` header (IS nodes skip their own). "
            "Defaults to the cluster id.", example='"cachesync-dc-east"'),
    Setting("codec.wso2_format", choice("json", "legacy", "both"), "json",
            "wso2 codec: the body written for IS nodes: json (connector 2.1.9+), legacy (the "
            "ClusterCacheInvalidationRequest{...} text of connectors 2.0.x-2.1.8), or both, one message "
            "of each (clusters mid-upgrade). Both are always read. Under legacy and both, a key with '}' "
            "or a line break is sent as a clear-all of its cache.", example='"json"'),
    Setting("signing.key_id", nonempty_text, None,
            "Id of the key that signs outgoing messages. Unset: messages are not signed.",
            example='"2026-11"'),
    Setting("signing.key_env", nonempty_text, "CACHESYNC_SIGNING_KEY",
            "Environment variable holding the signing key.", example='"CACHESYNC_SIGNING_KEY"'),
    Setting("signing.key_file", nonempty_text, None, "File holding the signing key, instead of the environment.",
            example='"/run/secrets/cachesync-signing-key"'),
    Setting("signing.require", boolean, False,
            "Reject incoming messages that are unsigned or signed with an unknown or wrong key.",
            example="true"),
    Setting("signing.previous", key_sources, {},
            'Older keys still accepted during a rotation: key id = "env:NAME" or "file:PATH".',
            example='{ "2026-10" = "env:CACHESYNC_SIGNING_KEY_2026_10" }'),
    Setting("sync.allow", text_list, [],
            "Caches synced, as `cache` or `manager/cache` patterns with * wildcards. Empty: every cache. "
            "Applied to what is published and to what is applied.",
            example='["IdentityApplicationManagementCacheManager/*", "OAuthCache"]'),
    Setting("sync.block", text_list, [],
            "Caches never synced (WSO2's sync_block_list), same patterns; wins over allow.",
            example='["*/LocalOnlyCache"]'),
    Setting("sync.gap_flush", text_list, [],
            "Caches to flush when messages from another cluster may have been missed. "
            "Empty: every cache of every target (the safe default).",
            example='["AppInfoCache", "OAuthCache"]'),
    Setting("sync.heartbeat_interval", positive_number, 2.0,
            "Seconds between this bridge's heartbeats. At most a quarter of max_silence.", example="2"),
    Setting("sync.max_silence", non_negative_number, 10.0,
            "Seconds without a word from a watched cluster (its bridge's heartbeats) after which this "
            "bridge flushes silence_flush, and again every max_silence while the silence lasts: the "
            "staleness bound (docs/concepts.md). 0 turns it off.", example="10"),
    Setting("sync.silence_flush", text_list, [],
            "Caches to flush when a watched cluster is silent or announces an intake gap, as gap_flush "
            "patterns. Empty: every cache of every target. Narrow it to the caches where staleness is a "
            "risk (tokens, authorizations).",
            example='["OAuthCache", "AuthorizationCache"]'),
    Setting("sync.on_silence", silence_actions, ["flush"],
            'What a silence does: "flush", "fence" (GET /fresh answers 503 until fresh again) or both.',
            example='["flush", "fence"]'),
    Setting("sync.peers", text_list, [],
            "Clusters to watch from the start, heard from or not (others are watched once their bridge's "
            "heartbeat arrives, and remembered on disk).", example='["dc-west", "dc-north"]'),
    Setting("sync.state_path", nonempty_text, None,
            "JSON file keeping the watched and retired clusters and whether the last run stopped cleanly. "
            "Default: state-<cluster>.json beside the spool.", example='"/var/lib/cachesync/state.json"'),
    Setting("sync.spool_path", nonempty_text, None,
            "SQLite file holding invalidations while the broker is unreachable. "
            "Default: <user state dir>/spool-<cluster>.sqlite.", example='"/var/lib/cachesync/spool.sqlite"'),
    Setting("sync.spool_max_keys", positive_int, 1_000_000,
            "Keys the spool holds before it collapses them to `all` per cache (nothing is dropped).",
            example="1000000"),
    Setting("sync.retry_max_delay", positive_number, 30.0,
            "Longest pause between attempts to apply to a failing target.", example="30"),
    Setting("sync.all_rate", positive_number, 10.0,
            "Messages with `all` items applied per second per origin; more are coalesced into one "
            "flush per cache per interval (held, never dropped) and counted.", example="10"),
    Setting("sync.all_burst", positive_int, 20,
            "Messages with `all` items an origin may send at once before `all_rate` applies.", example="20"),
    Setting("sync.rules_dir", nonempty_text, None,
            "Drop-in folder of rule files, reloaded without a restart (docs/operating.md). "
            "Default: cachesync.d/ beside the config file, when it exists.", example='"/etc/cachesync/cachesync.d"'),
    Setting("doctor.is_subscriptions", text_list, [],
            "RabbitMQ: the queues of WSO2 IS nodes' durable JMS subscriptions (the RabbitMQ JMS client names "
            "the queue exactly as the subscription; list them with `rabbitmqctl list_bindings source_name "
            "routing_key destination_name`, source jms.durable.topic). `doctor` looks at each twice, "
            "is_interval apart, and warns when one has no consumer and grows.",
            example='["is-node-1-subscription", "is-node-2-subscription"]'),
    Setting("doctor.is_interval", positive_number, 2.0,
            "Seconds between doctor's two looks at each of is_subscriptions.", example="2"),
    Setting("monitor.listen", listen_address, "127.0.0.1:9754",
            "Where the bridge serves GET /healthz and GET /metrics. Port 0 picks a free port.",
            example='"127.0.0.1:9754"'),
    Setting("monitor.enabled", boolean, True, "Serve /healthz and /metrics.", example="true"),
)

BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS}
#: Arrays of tables; their entry kinds are in cachesync_cli/entries/.
ENTRY_ARRAYS: tuple[str, ...] = tuple(ENTRY_KINDS)
SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(s.section for s in SETTINGS))
SECTION_HELP: dict[str, str] = {
    "cluster": "Who this cluster is.",
    "broker": "The central broker every cluster's bridge connects to.",
    "broker.tls": "TLS for amqps://, stomp+ssl:// and mqtts:// (verification is on by default).",
    "codec": "How invalidations are written on the topic.",
    "signing": "HMAC-SHA256 signatures (WIRE.md §2). Every cluster needs the same keys.",
    "sync": "What the bridge (`cachesync run`) syncs, and how it guarantees nothing is silently lost.",
    "doctor": "What `cachesync doctor` watches besides the topic: WSO2 IS nodes' queues.",
    "monitor": "The bridge's health and metrics endpoint. Keep it on a local or internal address.",
}
