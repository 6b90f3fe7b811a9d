"""The kinds of `[[targets]]`: what applies the other clusters' invalidations here (a Redis, a
memcached, a webhook...), each an `EntryType` naming its fields and "module:Class"."""

from __future__ import annotations

from cachesync_cli.entries.broker_leg import TARGET_FIELDS as BROKER_TARGET_FIELDS
from cachesync_cli.entries.broker_leg import check_target as check_broker_target
from cachesync_cli.entries.fields import (DIRECTORY_PATH, MEMCACHED_SERVERS, NAME, REDIS_URL, TEMPLATE, EntryType,
    Field, boolean, by_name, choice, key_template, nonempty_text, nonempty_text_list, positive_int,
    positive_number, secret_source)

TARGET_TYPES: dict[str, EntryType] = by_name(
    EntryType("redis", "cachesync_cli.local.redis_target:RedisTarget",
              "UNLINK the keys in Redis; `all` SCANs the cache's keys and UNLINKs them.",
              (NAME, REDIS_URL, TEMPLATE,
               Field("flushdb_on_all", boolean, False,
                     "Clear the whole Redis database for `all` instead of scanning (only for a dedicated db).",
                     example="false"),
               Field("scan_count", positive_int, 1000, "SCAN COUNT hint and UNLINK batch size.",
                     example="1000"))),
    EntryType("redis-channel", "cachesync_cli.local.redis_channel:RedisChannelTarget",
              "Re-broadcast on a Redis channel to this cluster's application nodes (WSO2 hybrid mode).",
              (NAME, REDIS_URL,
               Field("channel", nonempty_text, "cachesync.remote", "The channel application nodes subscribe to.",
                     example='"cachesync.remote"'))),
    EntryType("memcached", "cachesync_cli.local.memcached_target:MemcachedTarget",
              "delete the keys in memcached; `all` as `on_all` says.",
              (NAME,
               MEMCACHED_SERVERS,
               TEMPLATE,
               Field("on_all", choice("flush_all", "skip"), "flush_all",
                     "memcached cannot list keys: for `all`, flush_all every server, or skip (logged).",
                     example='"flush_all"'))),
    EntryType("webhook", "cachesync_cli.local.webhook_target:WebhookTarget",
              "POST the invalidation as JSON to each listed node URL, with retries.",
              (NAME,
               Field("urls", nonempty_text_list, None, "Node URLs to POST to.", required=True,
                     example='["http://app-1:8080/cache/invalidate"]'),
               Field("token", secret_source, None, 'Bearer token sent: "env:NAME" or "file:PATH".',
                     example='"env:APP_INVALIDATION_TOKEN"'),
               Field("timeout", positive_number, 5.0, "Seconds per request.", example="5"),
               Field("retries", positive_int, 3, "Attempts per URL before the target reports a failure.",
                     example="3"))),
    EntryType("command", "cachesync_cli.local.command_target:CommandTarget",
              "Run a command with the invalidation as JSON on stdin; exit 0 means applied.",
              (NAME,
               Field("argv", nonempty_text_list, None, "The program and its arguments (no shell).",
                     required=True, example='["/usr/local/bin/drop-cache"]'),
               Field("timeout", positive_number, 30.0, "Seconds before the command is killed.",
                     example="30"))),
    EntryType("directory", "cachesync_cli.local.directory_target:DirectoryTarget",
              "A file per key under a directory: delete the key's file; `all` empties the cache's folder.",
              (NAME,
               DIRECTORY_PATH,
               Field("template", key_template, "{cache}/{key}",
                     "File path of a key, relative to path; keys are percent-encoded.",
                     example='"{cache}/{key}"'))),
    EntryType("broker", "cachesync_cli.local.broker_target:BrokerTarget",
              "Publish the other clusters' invalidations on a cluster-local broker topic (WSO2 IS nodes'), "
              "object keys exactly; a flush becomes clear-alls of the listed caches per tenant.",
              (NAME, *BROKER_TARGET_FIELDS), check_entry=check_broker_target),
)
