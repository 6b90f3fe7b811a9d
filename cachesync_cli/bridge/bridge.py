"""`Bridge`: one cluster's connection between its local caches and the shared topic.

It assembles the parts from the configuration: a `BrokerConnection` with a durable
per-cluster subscription, the `Outgoing` thread (sources -> topic), the `Incoming` thread
(topic -> targets), the spool, and the sources and targets. See docs/architecture.md for
the threads and why each callback only queues.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from pathlib import Path

from cachesync_cli.bridge.all_limit import AllLimiter
from cachesync_cli.bridge.duplicate import DuplicateCluster
from cachesync_cli.bridge.incoming import Incoming
from cachesync_cli.bridge.outgoing import Outgoing
from cachesync_cli.bridge.rules import CacheRules, SyncRules
from cachesync_cli.bridge.peer_watch import PeerWatch
from cachesync_cli.bridge.rules_dir import RulesReloader
from cachesync_cli.bridge.silence import SilenceWatch
from cachesync_cli.bridge.spool import Spool
from cachesync_cli.bridge.state import BridgeState
from cachesync_cli.bridge.stats import BridgeStats
from cachesync_cli.bridge.status import BridgeStatus
from cachesync_cli.bridge.throttled_log import ThrottledLog, clip
from cachesync_cli.cleanup.scheduler import bridge_scheduler
from cachesync_cli.config import Config
from cachesync_cli.config.resolve import cluster_id, connect_options, keyring
from cachesync_cli.errors import CachesyncError, ConfigError, UsageError
from cachesync_cli.local.base import EchoGuard, LocalContext, Source, Target
from cachesync_cli.local.intake import IntakeGap
from cachesync_cli.entries import build_source, build_target
from cachesync_cli.publisher import Fit, Publisher
from cachesync_cli.transport.base import SubscriptionSpec
from cachesync_cli.transport.backoff import Backoff
from cachesync_cli.transport.connection import BrokerConnection, ConnectionEvent
from cachesync_cli.wire import Tenant
from cachesync_cli.wire.local import LocalMessage

log = logging.getLogger("cachesync.bridge")


MAX_APPLIED_ORIGINS = 1000
#: Seconds a stop may take in all, however dead the broker is: publishing what is queued (what
#: the broker does not confirm is spooled), the threads, closing the connection. Under the
#: 30 s a service manager usually grants after SIGTERM (docs/deployment.md).
STOP_SECONDS = 20.0


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
        config.broker_urls()  # raises when there is none
        if not config["cluster.id"]:
            raise UsageError("a bridge needs its cluster id",
                             hint="set [cluster] id in cachesync.toml, $CACHESYNC_CLUSTER, or pass --cluster")
        self.config = config
        self.cluster = cluster_id(config)
        self.stats = BridgeStats()
        self.input_log = ThrottledLog(log)  # bad local input: one line per kind every 10 s at most
        signing = keyring(config)
        self.codec = config["codec.name"]
        # on_unfit: what reaches the publishing thread unchecked (a spool written by an older
        # version or under the other codec) is fitted there too, never fatal
        self.publisher = Publisher(config["broker.topic"], origin=self.cluster, codec=self.codec,
                                   producer=config["codec.producer"], wso2_format=config["codec.wso2_format"],
                                   keyring=signing,
                                   on_legacy_shortfall=lambda kind, item: self.stats.inc(
                                       "local_legacy_shortfalls", label=kind),
                                   on_unfit=lambda fit, tenant: self._report_unfit(fit, tenant, "publishing"))
        self.rules = SyncRules(tuple(config["sync.allow"]), tuple(config["sync.block"]))
        self.dropin_targets: list[Target] = []
        context = LocalContext(cluster=self.cluster, echo_guard=EchoGuard(), environ=config.environ,
                               new_all_limiter=lambda: AllLimiter(config["sync.all_rate"], config["sync.all_burst"]))
        self.base_targets: list[Target] = [build_target(entry, context) for entry in config["targets"]]
        self.targets: list[Target] = list(self.base_targets)
        self.sources: list[Source] = [build_source(entry, context) for entry in config["sources"]]
        spool_path = Path(config["sync.spool_path"] or default_spool_path(self.cluster)).expanduser()
        self.spool = Spool(spool_path, max_keys=config["sync.spool_max_keys"])
        self.state_file = BridgeState(Path(config["sync.state_path"] or spool_path.with_name(
            f"state-{self.cluster}.json")).expanduser())
        self.silence = SilenceWatch(config["sync.max_silence"])
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
        self.peer_watch = PeerWatch(cluster=self.cluster, silence=self.silence, state=self.state_file,
                                    pinned=config["sync.peers"], connection=self.connection,
                                    fence="fence" in config["sync.on_silence"],
                                    heartbeat_interval=config["sync.heartbeat_interval"])
        self.outgoing = Outgoing(
            connection=self.connection, publisher=self.publisher, spool=self.spool, rules=self.rules,
            stats=self.stats, heartbeat_interval=config["sync.heartbeat_interval"], applied=self.applied,
            heartbeats=self.codec == "native",  # WSO2 nodes read every message on the topic as theirs
            intake_state=self._intake_state, silent=self._silent_peers,
        )
        context.intake.on_gap(self.outgoing.announce_gap)
        self.duplicate = DuplicateCluster(self.cluster, self.publisher.node, self.stats)
        self.incoming = Incoming(
            cluster=self.cluster, targets=self.targets, rules=self.rules, stats=self.stats, keyring=signing,
            require_signatures=config["signing.require"], own_producer=self.publisher.producer,
            own_node=self.publisher.node,
            gap_flush=config["sync.gap_flush"], retry_max_delay=config["sync.retry_max_delay"],
            on_applied=self._note_applied, on_ack_requested=self.outgoing.request_ack,
            all_limiter=AllLimiter(config["sync.all_rate"], config["sync.all_burst"]),
            silence=self.silence, silence_flush=config["sync.silence_flush"],
            silence_flushes="flush" in config["sync.on_silence"],
            on_bridge_seen=self.peer_watch.bridge_seen, on_retire=self.peer_watch.retire, on_echo=self.peer_watch.echo,
            on_own_heartbeat=self.duplicate.heartbeat,
        )
        self.monitor = None
        if config["monitor.enabled"]:
            from cachesync_cli.bridge.monitor import MonitorServer

            self.monitor = MonitorServer(self, config["monitor.listen"])

    # -- state for heartbeats and status ------------------------------------------------------

    def _note_applied(self, origin: str, node: str, seq: int) -> None:
        """For heartbeats: the last seq applied per origin, for the `MAX_APPLIED_ORIGINS`
        origins heard from most recently (anyone able to publish on an unsigned topic can
        make up origins: a heartbeat must not grow past what a broker takes)."""
        with self._applied_lock:
            self._applied.pop(origin, None)
            self._applied[origin] = seq
            if len(self._applied) > MAX_APPLIED_ORIGINS:
                del self._applied[next(iter(self._applied))]

    def applied(self) -> dict[str, int]:
        with self._applied_lock:
            return dict(self._applied)

    def _intake_state(self) -> str:
        """For heartbeats: "ok" when every source receives, "down" when one does not, "none"
        without sources (a bridge that only applies vouches for nothing)."""
        if not self.sources:
            return "none"
        return "ok" if self.context.intake.working else "down"

    def _silent_peers(self) -> dict[str, int]:
        """For heartbeats: the watched clusters silent for longer than max_silence, and for
        how long (ms), so that `cachesync status` can list the clusters that stopped sending."""
        return {cluster: round(seconds * 1000) for cluster, seconds in self.silence.report().silent.items()}

    def status(self) -> BridgeStatus:
        """What this bridge says about itself now: for /healthz, /metrics, /fresh, the live status."""
        connection = self.connection
        fenced, freshness = self.peer_watch.freshness()
        failure = self.failure
        return BridgeStatus(
            cluster=self.cluster, state=self.state, broker=str(connection.endpoint or ""), server=connection.server,
            connected=connection.connected, failure=None if failure is None else str(failure),
            targets=tuple(target.name for target in self.targets), failing=dict(self.incoming.failing),
            spool_batches=self.spool.depth, spool_keys=self.spool.keys,
            oldest_unpublished=self.outgoing.oldest_unpublished(), intake_working=self.context.intake.working,
            intake_down=self.context.intake.not_receiving(), duplicate_nodes=tuple(self.duplicate.nodes()),
            fenced=fenced, freshness=freshness, stats=self.stats.snapshot(),
            cleanup=None if self.cleanup is None else tuple(self.cleanup.status()))

    def check_target(self, name: str) -> None:
        """Raise unless target `name` is reachable now (`Target.check`), for /healthz."""
        target = next((target for target in self.targets if target.name == name), None)
        if target is None:
            raise CachesyncError(f"no target {name!r} any more (the rule files changed)")
        target.check()

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
                    self.stats.gap(self.cluster)
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
            log.error("%s is invalid, its [sync] rules stay as they were: %s", self.config.path, exc)
            return None
        static = [key for key in fresh.values if not key.startswith("sync.") and key not in ("sources", "targets")
                  and fresh[key] != self.config[key]]
        static += [key for key in ("sources", "targets") if fresh[key] != self.config[key]]
        if static:
            log.warning("%s changed: %s take effect only after a restart of the bridge",
                        self.config.path, ", ".join(static))
        return CacheRules(tuple(fresh["sync.allow"]), tuple(fresh["sync.block"]))

    def reload(self, why: str = "SIGHUP") -> list[str]:
        """Re-read cachesync.toml's [sync] rules and every rule file now (SIGHUP, `systemctl
        reload`). Nothing else restarts: the subscription, the queues and the threads go on.
        The files rejected (the rules before stay in force for them)."""
        return self.reloader.reload_now(why)

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
        # alone: refused at start when another bridge of this cluster id already consumes it
        self.connection.subscribe(SubscriptionSpec(self.config["broker.topic"], self.incoming.deliver,
                                                   durable_name=self.cluster, manual_ack=True, alone=True))
        self.connection.open(timeout=connect_timeout)
        if self.connection.wso2_text_only and self.codec != "wso2":
            self.connection.close()
            raise ConfigError(f"{self.connection.endpoint or 'the broker'} publishes on exchange jms.durable.topic, "
                              f"where IS nodes' RabbitMQ JMS consumers read only WSO2 TextMessages: a bridge with the "
                              f"{self.codec} codec cannot publish its envelopes and heartbeats there",
                              hint='set [codec] name = "wso2" for a bridge on the IS topic, or keep native bridges '
                                   'on another exchange ([broker] exchange = "amq.topic")')
        self.state = "running"
        self.state_file.mark_running()
        self.incoming.start()
        self.outgoing.start()
        for source in self.sources:
            try:
                source.start(self._submit, self._reject_local)
            except CachesyncError:  # SourceError; SubscriptionInUse (a broker leg's subscription taken)
                self.stop()
                raise
        # Only now that the sources listen: what was published before is what is lost. (Announced
        # before, the others would flush before the window closed, and keep what came last.)
        self._announce_start()
        self.reloader.start()
        if self.cleanup is not None:
            self.cleanup.start()
        log.info("bridge %s running on %s (%s): %d source(s), %d target(s), spool %s",
                 self.cluster, self.connection.endpoint, self.connection.server, len(self.sources),
                 len(self.targets), self.spool.path)

    def _announce_start(self) -> None:
        """Nobody listened on pub/sub sources while this bridge was not running: what was
        published meanwhile is lost, so the other clusters must flush (first start included)."""
        lossy = [source.name for source in self.sources if not source.durable]
        state = self.state_file
        reason = "crash" if state.previous_crashed else "start"
        if state.previous_crashed:
            log.warning("the previous run of this bridge did not stop cleanly (%s says it was running)", state.path)
        if lossy:
            self.outgoing.announce_gap(IntakeGap(", ".join(lossy), reason, state.stopped_at_ms,
                                                 "nobody listened before the bridge started"))

    def _submit(self, message: LocalMessage) -> None:
        """A source's callback: what cannot be published is dealt with here, where it is
        counted and logged, never found later in the publishing thread. A key too large for a
        message becomes `all` for its cache (flushed in the other clusters, not lost); an item
        that cannot be published even so is rejected; under the wso2 codec, so is a message
        with an item without a cache manager."""
        if self.codec == "wso2":
            missing = next((item.cache for item in message.items if not item.manager), None)
            if missing is not None:
                self._refuse(message, "no-manager", f"cache {repr(clip(missing))} has no cache manager, which "
                                                    "the wso2 codec needs: add \"manager\" to the item (or "
                                                    "{manager} to the template)")
                return
        fit = self.publisher.fit(message.items, message.tenant)
        if fit.changed:
            self._report_unfit(fit, message.tenant, "intake")
            if not fit.items:  # every item refused (counted above)
                self.outgoing.refuse(message)  # its receipt, if any, is told "rejected"
                return
            message = dataclasses.replace(message, items=fit.items)
        self.outgoing.submit(message)

    def _report_unfit(self, fit: Fit, tenant: Tenant | None, where: str) -> None:
        """Count and log what `Publisher.fit` changed (at intake, or in the publishing thread)."""
        if fit.uncarried_keys:
            self.stats.inc("local_uncarried_keys", fit.uncarried_keys)
            self.input_log.warning(
                "uncarried", "%d key(s) with '}' or a line break, which the legacy WSO2 text cannot carry: "
                "publishing a clear-all of their cache instead; found at %s", fit.uncarried_keys, where)
        if fit.oversized_keys:
            self.stats.inc("local_oversized_keys", fit.oversized_keys)
            caches = clip(", ".join(repr(clip(item.cache, 60)) for item in fit.flushed))
            self.input_log.warning(
                "oversized", "%d key(s) too large for a message (over %d bytes) in cache(s) %s: publishing `all` "
                "for them instead (the other clusters flush those caches); found at %s",
                fit.oversized_keys, self.publisher.max_bytes, caches, where)
        for item, reason in fit.refused:
            self.stats.inc("local_rejected", label=reason)
            if reason == "no-manager":
                detail = f"cache {repr(clip(item.cache))} has no cache manager, which the wso2 codec needs"
            elif reason == "legacy-format":
                detail = (f"cache {repr(clip(item.cache))} (manager {repr(clip(item.manager or ''))}, tenant "
                          f"{repr(clip(tenant.domain)) if tenant else None}): the legacy WSO2 text carries only "
                          "ASCII letters, digits, '_' and '.' in managers and tenant domains")
            else:
                detail = (f"cache {repr(clip(item.cache))} (manager {repr(clip(item.manager or ''))}, tenant "
                          f"{repr(clip(tenant.domain)) if tenant else None}) cannot be published even as `all`: "
                          f"its names are too long for a message of {self.publisher.max_bytes} bytes")
            self.input_log.warning(f"rejected:{reason}", "rejected a local message (%s): %s; found at %s",
                                   reason, detail, where)

    def _refuse(self, message: LocalMessage, reason: str, detail: str) -> None:
        self._reject_local(reason, detail)
        self.outgoing.refuse(message)  # its receipt, if any, is told "rejected"

    def _reject_local(self, reason: str, detail: str) -> None:
        """A source's callback for input it could not parse: counted by reason, logged at
        most once every 10 s per reason (a flood of bad input must not flood the log)."""
        self.stats.inc("local_rejected", label=reason)
        self.input_log.warning(f"rejected:{reason}", "rejected a local message (%s): %s", reason, clip(detail, 300))

    def stop(self) -> None:
        """Stop taking input, publish or spool what is queued, close cleanly. Once."""
        if self.state in ("stopping", "stopped"):
            return
        self.state = "stopping"
        deadline = time.monotonic() + STOP_SECONDS
        self.reloader.stop()
        if self.cleanup is not None:
            self.cleanup.stop()
        _each_quietly(self.sources, "stop")
        self.outgoing.stop(timeout=min(15.0, max(0.0, deadline - time.monotonic())))
        self.incoming.stop(timeout=min(10.0, max(0.0, deadline - time.monotonic())))
        self._close_connection(max(0.0, deadline - time.monotonic()))
        _each_quietly(self.targets, "close")
        self.spool.close()
        if self.outgoing.started:
            self.state_file.mark_stopped()
        if self.monitor is not None:
            self.monitor.stop()
        self.input_log.flush()
        self.state = "stopped"

    def _close_connection(self, timeout: float) -> None:
        """Close the broker connection, waiting at most `timeout` seconds: a transport's close
        may wait for the broker's answer on a connection nobody answers any more (black-holed).
        What it has not finished by then ends with the process."""
        closing = threading.Thread(target=self.connection.close, daemon=True, name="cachesync-close")
        closing.start()
        closing.join(timeout)
        if closing.is_alive():
            log.warning("the connection to %s did not close within %.0fs; stopping without it",
                        self.connection.endpoint or "the broker", timeout)


def _each_quietly(parts, method: str) -> None:
    """Call `method` of each source or target; one that raises is logged and the rest go on."""
    for part in parts:
        try:
            getattr(part, method)()
        except Exception:
            log.exception("%s did not %s cleanly", part.describe(), method)
