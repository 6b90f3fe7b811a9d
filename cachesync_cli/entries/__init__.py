"""The entries of `cachesync.toml`'s arrays of tables, `[[sources]]`, `[[targets]]` and `[[cleanup]]`:
the kinds of each (`sources.py`, `targets.py`, `cleaners.py`), the fields and values they hold
(`fields.py`, `duration.py`, `cron.py`, `cleanup_rules.py`), and `registry.py`, which checks an
entry and builds it.

This package sits below `config`, `local` and `cleanup`, which all read it, and imports none of
them: a kind names its class as "module:Class", imported only when an entry is built.

To add a kind, add an `EntryType` to its array's table: the config loader, `config init`, the
reference in docs/ (regenerate it) and the builders all read these tables.
"""

from cachesync_cli.entries.registry import (
    ENTRY_ARRAYS,
    KIND_NAMES,
    build_cleaner,
    build_source,
    build_target,
    validate_entry,
)
from cachesync_cli.entries.cleaners import CLEANUP_TYPES
from cachesync_cli.entries.sources import SOURCE_TYPES
from cachesync_cli.entries.targets import TARGET_TYPES

__all__ = ["CLEANUP_TYPES", "ENTRY_ARRAYS", "KIND_NAMES", "SOURCE_TYPES", "TARGET_TYPES", "build_cleaner",
           "build_source", "build_target", "validate_entry"]
