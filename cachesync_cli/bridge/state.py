"""What a bridge keeps on disk between runs, beside its spool: `state-<cluster>.json`.

- Whether the last run stopped cleanly: `running` is written true at start and false at a
  clean stop, so a start that finds it true follows a crash (SIGKILL, OOM kill, power loss).
  Either way a bridge with pub/sub sources missed what was published while it was away,
  and announces it (an intake gap); the marker tells the operator which it was.
- The watched clusters: every cluster whose bridge's heartbeats this bridge has received,
  so that a bridge restarted during an outage still watches the silent cluster.
- The retired clusters: an operator's `cachesync retire CLUSTER`; no longer watched.

Written atomically (a temporary file renamed over the old one). A file that cannot be read
is an error naming it: the bridge does not silently forget whom it watches.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

from cachesync_cli.errors import ConfigError

log = logging.getLogger("cachesync.bridge")


class BridgeState:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._data: dict = {"running": False, "stopped_at": None, "watched": {}, "retired": {}}
        if path.exists():
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
                if not isinstance(loaded, dict):
                    raise ValueError("not a JSON object")
            except (OSError, ValueError) as exc:
                raise ConfigError(f"cannot read the bridge state {path}: {exc}",
                                  hint="fix or remove the file (the bridge then flushes as after a first "
                                       "start, and watches clusters again as their heartbeats arrive)") from None
            self._data.update(loaded)
        self.first_run = not path.exists()
        self.previous_crashed = bool(self._data.get("running"))

    # -- the run marker -----------------------------------------------------------------------

    @property
    def stopped_at_ms(self) -> int | None:
        """When the previous run stopped cleanly (ms since the epoch); None after a crash or
        on a first run."""
        value = self._data.get("stopped_at")
        return value if isinstance(value, int) and not self.previous_crashed else None

    def mark_running(self) -> None:
        """Raises ConfigError, naming the file, when it cannot be written: without it a
        crash could not be told from a clean stop."""
        with self._lock:
            self._data["running"] = True
            try:
                self._write()
            except OSError as exc:
                raise ConfigError(f"cannot write the bridge state {self.path}: {exc.strerror or exc}",
                                  hint="make its directory writable, or set [sync] state_path") from None

    def mark_stopped(self) -> None:
        with self._lock:
            self._data["running"] = False
            self._data["stopped_at"] = int(time.time() * 1000)
            self._write_or_log()

    # -- watched and retired clusters ---------------------------------------------------------

    def watched(self) -> list[str]:
        with self._lock:
            return sorted(self._data["watched"])

    def retired(self) -> list[str]:
        with self._lock:
            return sorted(self._data["retired"])

    def watch(self, cluster: str) -> bool:
        """Remember that `cluster` has a bridge; True when it is new (or was retired)."""
        with self._lock:
            if cluster in self._data["watched"]:
                return False
            self._data["watched"][cluster] = {"since": int(time.time() * 1000)}
            self._data["retired"].pop(cluster, None)
            self._write_or_log()
            return True

    def retire(self, cluster: str, by: str) -> bool:
        """Stop watching `cluster` (an operator said so); True when it was watched."""
        with self._lock:
            was = self._data["watched"].pop(cluster, None) is not None
            self._data["retired"][cluster] = {"at": int(time.time() * 1000), "by": by}
            self._write_or_log()
            return was

    def _write_or_log(self) -> None:
        try:
            self._write()
        except OSError as exc:
            log.error("cannot write the bridge state %s: %s (kept in memory until the next write)",
                      self.path, exc.strerror or exc)

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps(self._data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(temporary, self.path)
