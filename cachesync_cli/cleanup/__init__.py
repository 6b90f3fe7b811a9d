"""`cachesync cleanup`: periodic cleanup of the local caches, once or on a schedule.

Cross-cluster messages can be missed; a periodic cleanup bounds how long anything stays
stale. Each `[[cleanup]]` entry of the config (kinds in entries/cleaners.py) is a `Cleaner`
(redis_cleaner, memcached_cleaner, directory_cleaner) with a policy, a lock, and
optionally a schedule that `cachesync cleanup --scheduled` and the bridge run
(scheduler.py). See docs/cleanup.md.
"""
