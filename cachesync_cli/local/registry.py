"""Every kind of `[[sources]]`, `[[targets]]` and `[[cleanup]]` entry: its fields, and its class,
imported lazily.

The config loader validates entries against these specs without importing any driver;
`build_source`/`build_target` import the class only when a bridge or `doctor` needs it.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Mapping
from typing import Any

from cachesync_cli.config.schema import (
    EntryType,
    Field,
    boolean,
    choice,
    key_template,
    listen_address,
    nonempty_text,
    nonempty_text_list,
    non_negative_number,
    positive_int,
    positive_number,
    secret_source,
)
from cachesync_cli.cleanup.cron import cron_expression
from cachesync_cli.cleanup.duration import duration
from cachesync_cli.cleanup.entry_rules import check_cleanup_entry, no_caches_for_memcached, policy_choice
from cachesync_cli.errors import ConfigError
from cachesync_cli.local.leg_fields import SOURCE_FIELDS as BROKER_SOURCE_FIELDS
from cachesync_cli.local.leg_fields import TARGET_FIELDS as BROKER_TARGET_FIELDS
from cachesync_cli.local.leg_fields import check_target as check_broker_target

NAME = Field("name", nonempty_text, None, "A name for logs, metrics and health (default: the type and index).")
REDIS_URL = Field("url", nonempty_text, "redis://127.0.0.1:6379/0", "Redis URL (redis:// or rediss://, db in the path).",
                  example='"redis://127.0.0.1:6379/0"')
TEMPLATE = Field("template", key_template, "{cache}:{key}",
                 "How a cache and key map to a key in this store: {cache}, {key}, {tenant}, {manager}.",
                 example='"{cache}:{key}"')
CACHES = Field("caches", nonempty_text_list, None,
               "Only these caches (cache or manager/cache names, * wildcards). Default: all.",
               example='["AppInfoCache", "OAuth*"]')

SOURCE_TYPES: dict[str, EntryType] = {
    t.name: t for t in (
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
}

TARGET_TYPES: dict[str, EntryType] = {
    t.name: t for t in (
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
                   Field("servers", nonempty_text_list, ["127.0.0.1:11211"], "memcached servers, HOST:PORT.",
                         example='["127.0.0.1:11211"]'),
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
                   Field("path", nonempty_text, None, "The cache directory.", required=True,
                         example='"/var/cache/app"'),
                   Field("template", key_template, "{cache}/{key}",
                         "File path of a key, relative to path; keys are percent-encoded.",
                         example='"{cache}/{key}"'))),
        EntryType("broker", "cachesync_cli.local.broker_target:BrokerTarget",
                  "Publish the other clusters' invalidations on a cluster-local broker topic (WSO2 IS nodes'), "
                  "object keys exactly; a flush becomes clear-alls of the listed caches per tenant.",
                  (NAME, *BROKER_TARGET_FIELDS), check_entry=check_broker_target),
    )
}

CLEANUP_CACHES = Field("caches", nonempty_text_list, None,
                       "Only these caches (cache or manager/cache names, * wildcards). Default: every key the "
                       "template matches (directory: everything under path).", example='["OAuthCache", "App*"]')
CLEANUP_SCHEDULE = (
    Field("every", duration, None, "Run every this long (`cleanup --scheduled` and `cachesync run`).",
          example='"10m"'),
    Field("cron", cron_expression, None, 'Run at these times instead: 5-field cron, e.g. "*/15 * * * *" (local time).',
          example='"*/15 * * * *"'),
    Field("jitter", duration, None, "Delay each scheduled run by a random 0..jitter, so clusters do not flush "
          "at the same instant.", example='"30s"'),
)

CLEANUP_TYPES: dict[str, EntryType] = {
    t.name: t for t in (
        EntryType("redis", "cachesync_cli.cleanup.redis_cleaner:RedisCleaner",
                  "SCAN the caches' keys in batches; UNLINK them (all), those idle too long (max_idle), "
                  "or EXPIRE those without a TTL (ttl).",
                  (NAME, REDIS_URL, TEMPLATE,
                   Field("policy", policy_choice("redis", ("all", "max_idle", "ttl"),
                                                 "Redis keeps no creation time (use max_idle)"), "all",
                         "all: UNLINK the caches' keys; max_idle: those unused for max_idle; ttl: give keys "
                         "without a TTL one.", example='"max_idle"'),
                   CLEANUP_CACHES,
                   Field("max_idle", duration, None, "max_idle policy: remove keys not read or written for "
                         "this long (OBJECT IDLETIME; needs an LRU or noeviction maxmemory-policy).",
                         example='"1h"'),
                   Field("ttl", duration, None, "ttl policy: the TTL given to keys that have none "
                         "(EXPIRE ... NX).", example='"1d"'),
                   Field("scan_count", positive_int, 1000, "SCAN COUNT hint and batch size.", example="1000"),
                   *CLEANUP_SCHEDULE),
                  check_entry=check_cleanup_entry),
        EntryType("memcached", "cachesync_cli.cleanup.memcached_cleaner:MemcachedCleaner",
                  "flush_all every server (memcached cannot list keys or their ages).",
                  (NAME,
                   Field("servers", nonempty_text_list, ["127.0.0.1:11211"], "memcached servers, HOST:PORT.",
                         example='["127.0.0.1:11211"]'),
                   Field("policy", policy_choice("memcached", ("all",),
                                                 "memcached cannot list keys or their ages, only flush_all"),
                         "all", "Only all (flush_all on every server).", example='"all"'),
                   Field("caches", no_caches_for_memcached, None, "Not possible: flush_all clears whole servers."),
                   *CLEANUP_SCHEDULE),
                  check_entry=check_cleanup_entry),
        EntryType("directory", "cachesync_cli.cleanup.directory_cleaner:DirectoryCleaner",
                  "Empty the caches' folders (all) or remove files older than max_age (max_age).",
                  (NAME,
                   Field("path", nonempty_text, None, "The cache directory.", required=True,
                         example='"/var/cache/app"'),
                   Field("template", key_template, "{cache}/{key}",
                         "File path of a key, relative to path (as the directory target).",
                         example='"{cache}/{key}"'),
                   Field("policy", policy_choice("directory", ("all", "max_age"),
                                                 "files have an age (mtime), not an idle time or TTL"), "all",
                         "all: empty the caches' folders (the whole directory without caches); max_age: remove "
                         "files older than max_age.", example='"max_age"'),
                   CLEANUP_CACHES,
                   Field("max_age", duration, None, "max_age policy: remove files last modified longer ago "
                         "than this.", example='"7d"'),
                   *CLEANUP_SCHEDULE),
                  check_entry=check_cleanup_entry),
    )
}

ENTRY_ARRAYS: dict[str, dict[str, EntryType]] = {"sources": SOURCE_TYPES, "targets": TARGET_TYPES,
                                                 "cleanup": CLEANUP_TYPES}
KIND_NAMES = {"sources": "source", "targets": "target", "cleanup": "cleanup target"}


def validate_entry(array: str, index: int, entry: Any, where: str) -> dict[str, Any]:
    """One `[[sources]]`/`[[targets]]`/`[[cleanup]]` entry, checked and with defaults filled in."""
    types = ENTRY_ARRAYS[array]
    label = f"{where}: [[{array}]] #{index + 1}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{label}: must be a table")
    kind = entry.get("type")
    if kind not in types:
        close = difflib.get_close_matches(str(kind), types, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(f"{label}: type {kind!r} is not a kind of {KIND_NAMES[array]}",
                          hint=f"{hint}allowed: {', '.join(types)}")
    spec = types[kind]
    fields = {f.name: f for f in spec.fields}
    result: dict[str, Any] = {"type": kind}
    for key, value in entry.items():
        if key == "type":
            continue
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(f"{label} ({kind}): unknown key {key!r}",
                              hint=f"{hint}allowed: type, {', '.join(fields)}")
        try:
            result[key] = fields[key].check(value)
        except ValueError as exc:
            raise ConfigError(f"{label} ({kind}) {key}: {exc}") from None
    for field in spec.fields:
        if field.name not in result:
            if field.required:
                raise ConfigError(f"{label} ({kind}): {field.name} is required", hint=field.help)
            result[field.name] = field.default
    if spec.check_entry is not None:
        try:
            spec.check_entry(result)
        except ValueError as exc:
            raise ConfigError(f"{label} ({kind}): {exc}") from None
    result["name"] = result.get("name") or f"{kind}-{index + 1}"
    return result


def _build(array: str, entry: Mapping[str, Any], context):
    spec = ENTRY_ARRAYS[array][entry["type"]]
    module_name, class_name = spec.target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"[[{array}]] {entry['name']!r} ({entry['type']}) needs the Python package "
                          f"{exc.name!r}, which is not installed", hint=f"pip install {exc.name}") from None
    cls = getattr(module, class_name)
    return cls(entry["name"], entry, context)


def build_source(entry: Mapping[str, Any], context):
    return _build("sources", entry, context)


def build_target(entry: Mapping[str, Any], context):
    return _build("targets", entry, context)


def build_cleaner(entry: Mapping[str, Any], context):
    return _build("cleanup", entry, context)


