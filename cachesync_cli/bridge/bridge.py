"""`Bridge`: one cluster's connection between its local caches and the shared topic.

It assembles the parts from the configuration: a `BrokerConnection` with a durable
per-cluster subscription, the `Outgoing` thread (sources -> topic), the `Incoming` thread
(topic -> targets), the spool, and the sources and targets. See docs/architecture.md for
the threads and why each callback only queues.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from cachesync_cli.bridge.all_limit import AllLimiter
from cachesync_cli.bridge.incoming import Incoming
from cachesync_cli.bridge.outgoing import Outgoing
from cachesync_cli.bridge.rules import CacheRules, SyncRules
from cachesync_cli.bridge.rules_dir import RulesReloader
from cachesync_cli.bridge.spool import Spool
from cachesync_cli.bridge.stats import BridgeStats
from cachesync_cli.cleanup.scheduler import bridge_scheduler
from cachesync_cli.config import Config
from cachesync_cli.config.resolve import cluster_id, connect_options, signing_keys
from cachesync_cli.errors import CachesyncError, UsageError
from cachesync_cli.local.base import EchoGuard, LocalContext, Source, SourceError, Target
from cachesync_cli.local.registry import build_source, build_target
from cachesync_cli.publisher import Publisher
from cachesync_cli.transport.base import SubscriptionSpec
from cachesync_cli.transport.connection import Backoff, BrokerConnection, ConnectionEvent
from cachesync_cli.wire import Keyring
from cachesync_cli.wire.local import LocalMessage

log = logging.getLogger("cachesync.bridge")


def rules_directory(config: Config) -> Path | None:
    """`[sync] rules_dir`, or cachesync.d/ beside the config file when that folder exists."""
    if config["sync.rules_dir"]:
        return Path(config["sync.rules_dir"]).expanduser()
    if config.path is not None and (config.path.parent / "cachesync.d").is_dir():
        return config.path.parent / "cachesync.d"
    return None


def default_spool_path(cluster: str) -> Path:
    from platformdirs import user_state_dir

    return Path(user_state_dir("cachesync")) / f"spool-{cluster}.sqlite"


class Bridge:
    def __init__(self, config: Config) -> None:
        if not config["broker.url"]:
            raise UsageError("no broker configured", hint="pass --broker URL or set [broker] url")
        if not config["cluster.id"]:
            raise UsageError("a bridge needs its cluster id",
                             hint="set [cluster] id in cachesync.toml, $CACHESYNC_CLUSTER, or pass --cluster")
        self.config = config
        self.cluster = cluster_id(config)
        self.stats = BridgeStats()
        key_id, keys = signing_keys(config)
        keyring = Keyring(key_id, keys) if keys else None
        self.codec = config["codec.name"]
        self.publisher = Publisher(config["broker.topic"], origin=self.cluster, codec=self.codec,
                                   producer=config["codec.producer"], keyring=keyring)
        self.rules = SyncRules(tuple(config["sync.allow"]), tuple(config["sync.block"]))
        self.dropin_targets: list[Target] = []
        context = LocalContext(cluster=self.cluster, echo_guard=EchoGuard(), environ=config.environ)
        self.base_targets: list[Target] = [build_target(entry, context) for entry in config["targets"]]
        self.targets: list[Target] = list(self.base_targets)
        self.sources: list[Source] = [build_source(entry, context) for entry in config["sources"]]
        spool_path = Path(config["sync.spool_path"] or default_spool_path(self.cluster)).expanduser()
        self.spool = Spool(spool_path, max_keys=config["sync.spool_max_keys"])
        self.context = context
        self.cleanup = bridge_scheduler(config["cleanup"], context, self.stats)  # [[cleanup]] with a schedule
        self.reloader = RulesReloader(rules_directory(config), self.rules, self.apply_rules,
                                      on_outcome=lambda outcome: self.stats.inc("rules_reloads", label=outcome),
                                      main_config=config.path, reload_main=self._reload_main_config)
        self._applied: dict[str, int] = {}
        self._applied_lock = threading.Lock()
        self.state = "starting"
        self.connection = BrokerConnection(
            config["broker.url"],
            connect_options(config, client_id=f"cachesync-{self.cluster}"),
            on_event=self._on_connection_event,
            backoff=Backoff(cap=config["broker.reconnect_max_delay"]),
        )
        self.outgoing = Outgoing(
            connection=self.connection, publisher=self.publisher, spool=self.spool, rules=self.rules,
            stats=self.stats, heartbeat_interval=config["sync.heartbeat_interval"], applied=self.applied,
            heartbeats=self.codec == "native",  # WSO2 nodes read every message on the topic as theirs
        )
        self.incoming = Incoming(
            cluster=self.cluster, targets=self.targets, rules=self.rules, stats=self.stats, keyring=keyring,
            require_signatures=config["signing.require"], own_producer=self.publisher.producer,
            gap_flush=config["sync.gap_flush"], retry_max_delay=config["sync.retry_max_delay"],
            on_applied=self._note_applied, on_ack_requested=self.outgoing.request_ack,
            all_limiter=AllLimiter(config["sync.all_rate"], config["sync.all_burst"]),
        )
        self.monitor = None
        if config["monitor.enabled"]:
            from cachesync_cli.bridge.monitor import MonitorServer

            self.monitor = MonitorServer(self, config["monitor.listen"])

    # -- state for heartbeats and status ------------------------------------------------------

    def _note_applied(self, origin: str, node: str, seq: int) -> None:
        with self._applied_lock:
            self._applied[origin] = seq

    def applied(self) -> dict[str, int]:
        with self._applied_lock:
            return dict(self._applied)

    @property
    def failure(self) -> CachesyncError | None:
        """Why the bridge cannot go on (credentials refused, publishing failed...), if it cannot."""
        return self.connection.failure or self.outgoing.fatal

    def _on_connection_event(self, event: ConnectionEvent) -> None:
        log.warning(event.describe()) if event.kind in ("lost", "retrying", "failed") else log.info(event.describe())
        if event.kind == "lost":
            self.state = "reconnecting"
        elif event.kind == "connected":
            self.state = "running"
            if event.reconnect:
                self.stats.inc("reconnects")
                if not event.durable:
                    self.incoming.flush(self.cluster)

    # -- runtime configuration ----------------------------------------------------------------

    def apply_rules(self, rules: SyncRules, target_entries: list[dict]) -> None:
        """New sync rules and drop-in targets, from the rule files (called by the reloader)."""
        self.rules = self.incoming.rules = self.outgoing.rules = rules
        current = {t.name: t for t in self.dropin_targets}
        wanted = {entry["name"]: entry for entry in target_entries}
        if {n: t.options for n, t in current.items()} == wanted:
            return
        built = [current[n] if n in current and current[n].options == e else build_target(e, self.context)
                 for n, e in wanted.items()]
        self.dropin_targets = built
        self.targets = self.incoming.targets = self.base_targets + built
        for name, target in current.items():
            if target not in built:
                target.close()
        log.warning("targets now: %s", ", ".join(t.name for t in self.targets) or "none")

    def _reload_main_config(self) -> CacheRules | None:
        """cachesync.toml changed: its [sync] rules apply now; what is static needs a restart."""
        from cachesync_cli.config import load_config

        try:
            fresh = load_config(self.config.path, environ=self.config.environ)
        except UsageError as exc:
            log.error("%s changed but is invalid, nothing applied: %s", self.config.path, exc)
            return None
        static = [key for key in fresh.values if not key.startswith("sync.") and key not in ("sources", "targets")
                  and fresh[key] != self.config[key]]
        static += [key for key in ("sources", "targets") if fresh[key] != self.config[key]]
        if static:
            log.warning("%s changed: %s take effect only after a restart of the bridge",
                        self.config.path, ", ".join(static))
        return CacheRules(tuple(fresh["sync.allow"]), tuple(fresh["sync.block"]))

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, connect_timeout: float | None = 30.0) -> None:
        """Serve health and metrics, connect, subscribe, start the threads and the sources."""
        if self.monitor is not None:
            self.monitor.start()
        self.reloader.load_once(force=True)
        for target in self.targets:
            try:
                target.check()
            except Exception as exc:
                log.warning("%s is not reachable yet: %s (invalidations wait for it)", target.describe(), exc)
        self.connection.subscribe(SubscriptionSpec(self.config["broker.topic"], self.incoming.deliver,
                                                   durable_name=self.cluster, manual_ack=True))
        self.connection.open(timeout=connect_timeout)
        self.state = "running"
        self.incoming.start()
        self.outgoing.start()
        for source in self.sources:
            try:
                source.start(self._submit_wso2 if self.codec == "wso2" else self.outgoing.submit,
                             self._reject_local)
            except SourceError:
                self.stop()
                raise
        self.reloader.start()
        if self.cleanup is not None:
            self.cleanup.start()
        log.info("bridge %s running on %s (%s): %d source(s), %d target(s), spool %s",
                 self.cluster, self.connection.endpoint, self.connection.server, len(self.sources),
                 len(self.targets), self.spool.path)

    def _submit_wso2(self, message: LocalMessage) -> None:
        """A source's callback under the wso2 codec: what that format cannot carry is
        rejected here, where it is counted and logged, never found later in the publishing
        thread."""
        missing = next((item.cache for item in message.items if not item.manager), None)
        if missing is not None:
            self._reject_local("no-manager", f"cache {missing!r} has no cache manager, which the wso2 codec "
                                             "needs: add \"manager\" to the item (or {manager} to the template)")
            self.outgoing.refuse(message)  # its receipt, if any, is told "rejected"
            return
        self.outgoing.submit(message)

    def _reject_local(self, reason: str, detail: str) -> None:
        self.stats.inc("local_rejected", label=reason)
        log.warning("rejected a local message (%s): %s", reason, detail)

    def stop(self) -> None:
        """Stop taking input, publish or spool what is queued, close cleanly."""
        self.state = "stopping"
        self.reloader.stop()
        if self.cleanup is not None:
            self.cleanup.stop()
        for source in self.sources:
            try:
                source.stop()
            except Exception:
                log.exception("%s did not stop cleanly", source.describe())
        self.outgoing.stop()
        self.incoming.stop()
        self.connection.close()
        for target in self.targets:
            try:
                target.close()
            except Exception:
                log.exception("%s did not close cleanly", target.describe())
        self.spool.close()
        if self.monitor is not None:
            self.monitor.stop()
        self.state = "stopped"
