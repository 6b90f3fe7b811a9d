"""The kinds of `[[sources]]`: where this cluster's applications announce invalidations.
Each kind is an `EntryType`: its fields and its class as "module:Class" (see entries/__init__.py)."""

from __future__ import annotations

from cachesync_cli.entries.broker_leg import SOURCE_FIELDS as BROKER_SOURCE_FIELDS
from cachesync_cli.entries.fields import (CACHES, NAME, REDIS_URL, TEMPLATE, EntryType, Field, boolean, by_name,
    listen_address, non_negative_number, nonempty_text, nonempty_text_list, positive_int, positive_number,
    secret_source)

SOURCE_TYPES: dict[str, EntryType] = by_name(
    EntryType("redis-channel", "cachesync_cli.local.redis_channel:RedisChannelSource",
              "Local messages (WIRE.md §4) published on a Redis pub/sub channel.",
              (NAME, REDIS_URL,
               Field("channel", nonempty_text, "cachesync.local", "The channel applications publish on.",
                     example='"cachesync.local"'))),
    EntryType("redis-stream", "cachesync_cli.local.redis_stream:RedisStreamSource",
              "Local messages (WIRE.md §4) added to a Redis stream (Redis 7+), read by a consumer group and "
              "acknowledged once confirmed by the broker or spooled: nothing is lost while the bridge is away.",
              (NAME, REDIS_URL,
               Field("stream", nonempty_text, "cachesync:invalidations", "The stream applications XADD to.",
                     example='"cachesync:invalidations"'),
               Field("field", nonempty_text, "m", "The entry field holding the JSON local message.",
                     example='"m"'),
               Field("group", nonempty_text, None, "Consumer group (created at the stream's start when "
                     "missing). Default: the cluster id.", example='"dc-east"'),
               Field("consumer", nonempty_text, None, "This bridge's consumer name; keep it stable across "
                     "restarts so a restarted bridge reads its own pending entries. Default: the host name.",
                     example='"bridge-1"'),
               Field("count", positive_int, 500, "Entries read at most per XREADGROUP.", example="500"),
               Field("max_length", positive_int, 1_000_000, "Safety cap (XTRIM MAXLEN ~): past it even "
                     "unread entries are trimmed, and announced as an intake gap.", example="1000000"),
               Field("claim_idle", positive_number, 60.0, "Seconds after which entries another consumer "
                     "of the group left pending are taken over (XAUTOCLAIM).", example="60"))),
    EntryType("http", "cachesync_cli.local.http_source:HttpSource",
              "Local messages POSTed to /v1/invalidations.",
              (NAME,
               Field("listen", listen_address, "127.0.0.1:8765", "Address to listen on.",
                     example='"127.0.0.1:8765"'),
               Field("token", secret_source, None,
                     'Bearer token required from callers: "env:NAME" or "file:PATH". Default: none.',
                     example='"env:CACHESYNC_HTTP_TOKEN"'),
               Field("wait", non_negative_number, 5.0,
                     "Seconds a POST waits for the bridge to confirm or spool the message before answering "
                     "503; 0 answers 202 at once, unconfirmed.", example="5"))),
    EntryType("redis-keyspace", "cachesync_cli.local.redis_keyspace:RedisKeyspaceSource",
              "Deletes and expiries an application makes in its Redis, via keyspace notifications.",
              (NAME, REDIS_URL, TEMPLATE, CACHES,
               Field("events", nonempty_text_list, ["del", "unlink"],
                     "Keyspace events that count as an invalidation (del, unlink, expired, evicted...).",
                     example='["del", "unlink"]'),
               Field("configure", boolean, True,
                     "Turn on notify-keyspace-events in Redis if it is off (needs CONFIG SET).",
                     example="true"))),
    EntryType("broker", "cachesync_cli.local.broker_source:BrokerSource",
              "A cluster-local broker topic (WSO2 IS nodes' cache-sync topic), read through a durable "
              "subscription of the bridge's own; what a broker target delivered is skipped.",
              (NAME, *BROKER_SOURCE_FIELDS)),
)
