"""The kinds of `[[cleanup]]`: stores `cachesync cleanup` and the bridge's scheduler clear or trim,
each an `EntryType` naming its fields, its whole-entry rules and "module:Class"."""

from __future__ import annotations

from cachesync_cli.entries.cleanup_rules import check_cleanup_entry, no_caches_for_memcached, policy_choice
from cachesync_cli.entries.cron import cron_expression
from cachesync_cli.entries.duration import duration
from cachesync_cli.entries.fields import (DIRECTORY_PATH, MEMCACHED_SERVERS, NAME, REDIS_URL, TEMPLATE, EntryType,
    Field, by_name, key_template, nonempty_text_list, positive_int)

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

CLEANUP_TYPES: dict[str, EntryType] = by_name(
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
               MEMCACHED_SERVERS,
               Field("policy", policy_choice("memcached", ("all",),
                                             "memcached cannot list keys or their ages, only flush_all"),
                     "all", "Only all (flush_all on every server).", example='"all"'),
               Field("caches", no_caches_for_memcached, None, "Not possible: flush_all clears whole servers."),
               *CLEANUP_SCHEDULE),
              check_entry=check_cleanup_entry),
    EntryType("directory", "cachesync_cli.cleanup.directory_cleaner:DirectoryCleaner",
              "Empty the caches' folders (all) or remove files older than max_age (max_age).",
              (NAME,
               DIRECTORY_PATH,
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
